"""The larcv3 HDF5 layout: numpy dtypes, HDF5 types, chunk sizes and compression.

Everything here was read off files written by larcv 3.5.1's C++ ``IOManager``
(``/work/shared/data/larcv3/*_reference.h5``) and checked against larcv3's sources
(``src/larcv3/core/dataformat/``: ``DataFormatTypes.h``, ``ImageMeta.h``, ``Voxel.h``,
``Particle.h``, ``EventSparseTensor.cxx``, ``EventSparseCluster.cxx``, ``EventParticle.cxx``,
``EventImage2D.cxx``, ``IOManager.cxx``). The file is the truth where the two differ (e.g. the
extents ``first`` field is 8 bytes on disk).

Layout: ``Events/event_id`` (one row per event) and one group per product,
``Data/<type>_<producer>_group``, holding a chain of "extents" tables: each row of a table is a
(first, N[, ID]) range into the next table, ending in a flat table of voxels / particles / pixels.
"""

from __future__ import annotations

import h5py
import numpy as np

#: gzip level larcv uses for every dataset (no shuffle, no fletcher32).
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 1

EVENTS_GROUP = "Events"
EVENT_ID_DATASET = "event_id"
DATA_GROUP = "Data"

SPARSE2D = "sparse2d"
CLUSTER2D = "cluster2d"
PARTICLE = "particle"
IMAGE2D = "image2d"
PRODUCT_TYPES = (SPARSE2D, CLUSTER2D, PARTICLE, IMAGE2D)

# larcv's "invalid" sentinels (LArCVTypes.h: kINVALID_USHORT, kINVALID_UINT).
INVALID_USHORT = 0xFFFF
INVALID_UINT = 0xFFFFFFFF
# larcv3 3.5.1 ShapeType_t (DataFormatTypes.h): kShapeShower 0, kShapeTrack 1, kShapeUnknown 2.
# The reference files' particles, whose shape nobody set, hold 2.
LARCV3_SHAPE_UNKNOWN = 2
PROCESS_STRLEN = 64  # Particle.h: PARTICLE_PROCESS_STRLEN

# --------------------------------------------------------------------------- numpy dtypes
EVENT_ID_DTYPE = np.dtype([("run", "<i8"), ("subrun", "<i8"), ("event", "<i8")])

# (first, N) padded to 16 bytes; (first, N, ID) fills the same 16 bytes.
EXTENTS_DTYPE = np.dtype({"names": ["first", "N"], "formats": ["<u8", "<u4"],
                          "offsets": [0, 8], "itemsize": 16})
ID_EXTENTS_DTYPE = np.dtype({"names": ["first", "N", "ID"], "formats": ["<u8", "<u4", "<u4"],
                             "offsets": [0, 8, 12], "itemsize": 16})
VOXEL_DTYPE = np.dtype({"names": ["id", "value"], "formats": ["<u8", "<f4"],
                        "offsets": [0, 8], "itemsize": 16})
IMAGE_META_DTYPE = np.dtype({
    "names": ["valid", "projection_id", "image_sizes", "number_of_voxels", "origin"],
    "formats": ["u1", "<u8", ("<f8", (2,)), ("<u8", (2,)), ("<f8", (2,))],
    "offsets": [0, 8, 16, 32, 48], "itemsize": 72})
VERTEX_DTYPE = np.dtype([("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("t", "<f8")])
PROCESS_DTYPE = h5py.string_dtype("ascii", PROCESS_STRLEN)

_PARTICLE_FIELDS = [  # (name, format, offset): larcv3 Particle::get_datatype()
    ("id", "<u2", 0), ("mcst_index", "<u2", 2), ("mct_index", "<u2", 4), ("shape", "<i4", 8),
    ("current_type", "<i2", 12), ("interaction_type", "<i2", 14), ("trackid", "<u4", 16),
    ("pdg", "<i4", 20), ("px", "<f8", 24), ("py", "<f8", 32), ("pz", "<f8", 40),
    ("vtx", VERTEX_DTYPE, 48), ("end_pt", VERTEX_DTYPE, 80), ("first_step", VERTEX_DTYPE, 112),
    ("last_step", VERTEX_DTYPE, 144), ("dist_travel", "<f8", 176), ("energy_init", "<f8", 184),
    ("energy_deposit", "<f8", 192), ("process", PROCESS_DTYPE, 200),
    ("parent_trackid", "<u4", 264), ("parent_pdg", "<i4", 268), ("parent_vtx", VERTEX_DTYPE, 272),
    ("ancestor_trackid", "<u4", 304), ("ancestor_pdg", "<i4", 308),
    ("ancestor_vtx", VERTEX_DTYPE, 312),
]
PARTICLE_DTYPE = np.dtype({"names": [f[0] for f in _PARTICLE_FIELDS],
                           "formats": [f[1] for f in _PARTICLE_FIELDS],
                           "offsets": [f[2] for f in _PARTICLE_FIELDS], "itemsize": 344})
IMAGE_DTYPE = np.dtype("<f4")

# --------------------------------------------------------------------------- datasets per product
#: dataset name -> (dtype, chunk rows), in larcv's creation order. ``None`` chunk: set from the
#: first event (image2d ``images``: total pixel count of the first event's images).
DATASETS: dict[str, dict[str, tuple[np.dtype, int | None]]] = {
    SPARSE2D: {"extents": (EXTENTS_DTYPE, 10), "voxel_extents": (ID_EXTENTS_DTYPE, 100),
               "image_meta": (IMAGE_META_DTYPE, 100), "voxels": (VOXEL_DTYPE, 1000)},
    CLUSTER2D: {"extents": (EXTENTS_DTYPE, 10), "projection_extents": (ID_EXTENTS_DTYPE, 100),
                "cluster_extents": (ID_EXTENTS_DTYPE, 100), "image_meta": (IMAGE_META_DTYPE, 100),
                "voxels": (VOXEL_DTYPE, 1000)},
    PARTICLE: {"extents": (EXTENTS_DTYPE, 100), "particles": (PARTICLE_DTYPE, 500)},
    IMAGE2D: {"extents": (EXTENTS_DTYPE, 1), "image_extents": (ID_EXTENTS_DTYPE, 1000),
              "image_meta": (IMAGE_META_DTYPE, 1000), "images": (IMAGE_DTYPE, None)},
}
EVENT_ID_CHUNK = 100

#: Each product's chain of tables: (table, the table its rows index into).
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    SPARSE2D: (("extents", "voxel_extents"), ("voxel_extents", "voxels")),
    CLUSTER2D: (("extents", "projection_extents"), ("projection_extents", "cluster_extents"),
                ("cluster_extents", "voxels")),
    PARTICLE: (("extents", "particles"),),
    IMAGE2D: (("extents", "image_extents"), ("image_extents", "images")),
}
#: Tables with one row per row of another table (image_meta: one per projection).
PARALLEL: dict[str, tuple[tuple[str, str], ...]] = {
    SPARSE2D: (("image_meta", "voxel_extents"),),
    CLUSTER2D: (("image_meta", "projection_extents"),),
    PARTICLE: (),
    IMAGE2D: (("image_meta", "image_extents"),),
}


def group_name(product_type: str, producer: str) -> str:
    return f"{product_type}_{producer}_group"


def group_path(product_type: str, producer: str) -> str:
    return f"{DATA_GROUP}/{group_name(product_type, producer)}"


def parse_group_name(name: str) -> tuple[str, str] | None:
    """(type, producer) of a ``<type>_<producer>_group`` name, or None for anything else."""
    if not name.endswith("_group"):
        return None
    for t in PRODUCT_TYPES:
        if name.startswith(t + "_") and len(name) > len(t) + len("__group"):
            return t, name[len(t) + 1:-len("_group")]
    return None


# --------------------------------------------------------------------------- HDF5 types
def h5_type(dtype: np.dtype) -> h5py.h5t.TypeID:
    """The HDF5 file type larcv writes for ``dtype``.

    h5py maps a numpy compound to the same layout, except that its fixed-length strings are
    NULLPAD where larcv's ``H5Tcopy(H5T_C_S1)`` is NULLTERM: rebuild compounds member by member.
    """
    return _fix_strings(h5py.h5t.py_create(dtype, logical=True))


def _fix_strings(tid: h5py.h5t.TypeID) -> h5py.h5t.TypeID:
    cls = tid.get_class()
    if cls == h5py.h5t.STRING:
        s = tid.copy()
        s.set_strpad(h5py.h5t.STR_NULLTERM)
        s.set_cset(h5py.h5t.CSET_ASCII)
        return s
    if cls != h5py.h5t.COMPOUND:
        return tid
    out = h5py.h5t.create(h5py.h5t.COMPOUND, tid.get_size())
    for i in range(tid.get_nmembers()):
        out.insert(tid.get_member_name(i), tid.get_member_offset(i),
                   _fix_strings(tid.get_member_type(i)))
    return out


def create_dataset(group: h5py.Group, name: str, dtype: np.dtype, chunk: int,
                   level: int = COMPRESSION_LEVEL) -> h5py.Dataset:
    """An empty, unlimited, chunked, gzip-compressed 1D dataset, as larcv creates them."""
    space = h5py.h5s.create_simple((0,), (h5py.h5s.UNLIMITED,))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((max(1, int(chunk)),))
    if level:
        dcpl.set_deflate(level)
    dcpl.set_obj_track_times(True)  # the HDF5 C default, which larcv keeps (h5py turns it off)
    dsid = h5py.h5d.create(group.id, name.encode(), h5_type(dtype), space, dcpl=dcpl)
    return h5py.Dataset(dsid)


def empty_particles(n: int) -> np.ndarray:
    """``n`` particle rows holding larcv3's ``Particle()`` defaults (Particle.h constructor).

    Fields larcv leaves uninitialised (vertices) are zero here.
    """
    out = np.zeros(n, PARTICLE_DTYPE)
    out["id"] = INVALID_USHORT
    out["mcst_index"] = INVALID_USHORT
    out["mct_index"] = INVALID_USHORT
    out["shape"] = LARCV3_SHAPE_UNKNOWN
    out["current_type"] = -1
    out["interaction_type"] = -1
    out["trackid"] = INVALID_UINT
    out["dist_travel"] = -1.0
    out["parent_trackid"] = INVALID_UINT
    out["ancestor_trackid"] = INVALID_UINT
    return out
