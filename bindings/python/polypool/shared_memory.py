"""SharedMemory and ShareableList, as multiprocessing.shared_memory.

The segment is created by the polypool daemon, which keeps it while any
process holds it. The creating process holds it until it calls
``unlink()`` or exits, so a segment outlives the creator's ``close()``
and can still be attached by name, as under multiprocessing. A process
that attached it holds it while its SharedMemory is open (until
``close()``, or until the object is collected), so a pool worker that
attached one for a task does not keep it alive afterwards. Nothing is left
in /dev/shm once every holder is gone, even if one was killed: there is no
resource tracker to warn about leaks, because there are none.
"""
import errno
import os
import secrets
import struct
from multiprocessing import shared_memory as _mpshm

from . import _polypool, _shared
from ._errors import ExistsError, NotFoundError

__all__ = ["SharedMemory", "ShareableList"]

_NAME_PREFIX = "psm_"
_NAME_BYTES = 4        # "psm_" + 8 hex digits: 12 characters, as multiprocessing

# Segments this process created, by name: held until unlink() or exit, as
# a segment is under multiprocessing until it is unlinked.
_created = {}


class SharedMemory:
    """A block of shared memory, by name."""

    _buf = None
    _seg = None

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create:
            if size == 0:
                raise ValueError("'size' must be a positive number different from zero")
        if name is None and not create:
            raise ValueError("'name' can only be None if create=True")
        if name is not None:
            name = os.fspath(name)
            if "\0" in name:
                raise ValueError("embedded null character")
            name = name.lstrip("/")
        if create:
            while True:
                label = name if name is not None else \
                    _NAME_PREFIX + secrets.token_hex(_NAME_BYTES)
                try:
                    seg = _polypool.shm_create(size, label)
                except ExistsError:
                    if name is not None:
                        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST),
                                              name) from None
                    continue
                break
        else:
            label = name
            try:
                seg = _polypool.shm_attach(label=label)
            except NotFoundError:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                        name) from None
        self._init(seg, label)
        if create:
            _created[label] = seg

    def _init(self, seg, label):
        _shared.rebuilds += 1
        self._seg = seg
        self._name = label
        self._size = seg.size
        self._buf = memoryview(seg)

    @classmethod
    def _from_segment(cls, seg_id):
        """An anonymous segment (passed by handle from C)."""
        seg = _polypool.shm_attach(id=seg_id)
        self = cls.__new__(cls)
        self._init(seg, "")
        return self

    def __del__(self):
        try:
            self.close()
        except (OSError, BufferError):
            pass

    def __reduce__(self):
        if self._seg is not None:
            _shared.keep(self._seg)
        if not self._name:
            return _shared.rebuild, (self._pp_handle,)
        return (self.__class__, (self.name, False, self.size))

    @property
    def _pp_handle(self):
        seg = self._seg
        if seg is None:
            raise ValueError("the SharedMemory is closed")
        return (_shared.SEGMENT, seg.id, seg.path, 0, seg.size, "", 0, 0, 0, "", 0, 0,
                self._name or "")

    def __repr__(self):
        return "%s(%r, size=%s)" % (self.__class__.__name__, self.name, self.size)

    @property
    def buf(self):
        """A memoryview of the block (None once closed)."""
        return self._buf

    @property
    def name(self):
        """The name other processes attach the block by."""
        return self._name

    @property
    def size(self):
        """Size in bytes."""
        return self._size

    def close(self):
        """Closes this process's view (the block stays for the others)."""
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        if self._seg is not None:
            self._seg.unmap()
            # The creator's hold stays (in _created) until unlink() or exit.
            self._seg = None

    def unlink(self):
        """Removes the name: the block goes once no process holds it."""
        if not self._name:
            return
        try:
            _polypool.shm_unlink(self._name)
        except NotFoundError:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                    self._name) from None
        finally:
            _created.pop(self._name, None)


class ShareableList(_mpshm.ShareableList):
    """multiprocessing's ShareableList over a polypool SharedMemory."""

    def __init__(self, sequence=None, *, name=None):
        if name is None or sequence is not None:
            sequence = sequence or ()
            formats = [self._types_mapping[type(item)]
                       if not isinstance(item, (str, bytes))
                       else self._types_mapping[type(item)] % (
                           self._alignment * (len(item) // self._alignment + 1),)
                       for item in sequence]
            self._list_len = len(formats)
            offset = 0
            self._allocated_offsets = [0]
            for fmt in formats:
                offset += self._alignment if fmt[-1] != "s" else int(fmt[:-1])
                self._allocated_offsets.append(offset)
            codes = [self._extract_recreation_code(item) for item in sequence]
            size = struct.calcsize("q" + self._format_size_metainfo + "".join(formats) +
                                   self._format_packing_metainfo +
                                   self._format_back_transform_codes)
            self.shm = SharedMemory(name, create=True, size=size)
            buf = self.shm.buf
            struct.pack_into("q" + self._format_size_metainfo, buf, 0, self._list_len,
                             *self._allocated_offsets)
            struct.pack_into("".join(formats), buf, self._offset_data_start,
                             *(v.encode(_mpshm._encoding) if isinstance(v, str) else v
                               for v in sequence))
            struct.pack_into(self._format_packing_metainfo, buf, self._offset_packing_formats,
                             *(f.encode(_mpshm._encoding) for f in formats))
            struct.pack_into(self._format_back_transform_codes, buf,
                             self._offset_back_transform_codes, *codes)
        else:
            self.shm = SharedMemory(name)
            self._list_len = len(self)
            self._allocated_offsets = list(struct.unpack_from(self._format_size_metainfo,
                                                              self.shm.buf, 1 * 8))
