/* torchpt.h - the files torch.save writes for a state dict, read and written.
 *
 * A torch.save file (PyTorch 1.6 and later) is a zip archive whose entries all sit under one
 * folder (the archive name, torch uses the file's stem): data.pkl (a pickle, protocol 2, of the
 * state dict), data/KEY (one raw little-endian storage per key), version, byteorder, and a few
 * more small records. libzip reads and writes the archive; the pickle is read by a small
 * machine that knows only what torch writes for a state dict: OrderedDict, tuples, ints, bools,
 * None, strings, the memo (BINPUT/BINGET and their long forms, MEMOIZE), SETITEM(S), BUILD of
 * the dict's _metadata (skipped), persistent ids ('storage', torch.HalfStorage /
 * BFloat16Storage / FloatStorage, key, location, numel) and torch._utils._rebuild_tensor_v2.
 * Any other opcode or global is an LT_EUNSUPPORTED / LT_EFORMAT error naming it (a pickle that
 * would run other code is never run). Tensors must be f16, bf16 or f32; each row-major one's
 * data points into a read-only mapping of the file (stored entries only, offsets and sizes
 * checked against the entry and the file) or, when the data is not aligned to its element, into
 * a copy the reader owns; a strided view (a transposed tensor, a slice of a larger matrix: what
 * torch saves for SliceGPT's sliced weights, which keep their whole storage) is gathered into a
 * row-major copy, its extent checked against the storage. CRCs are not checked.
 * Writer: one storage per tensor, every entry stored (not compressed) with its data aligned
 * to 64 bytes as torch aligns it; torch.load(path, weights_only=True) reads it.
 * Leaves out: the legacy (pre-1.6) format, big-endian files, other dtypes, views that share
 * a storage on writing (reading them is fine), _metadata on writing.
 */
#ifndef LT_TORCHPT_H
#define LT_TORCHPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"
#include "safetensors.h" /* lt_st_entry: the writers' tensor description */
#include "src_tensor.h"

typedef struct lt_torchpt lt_torchpt;

lt_status lt_pt_open(lt_torchpt **out, const char *path, lt_err *err);
void lt_pt_close(lt_torchpt *pt); /* NULL is a no-op */

int64_t lt_pt_n_tensors(const lt_torchpt *pt);
size_t lt_pt_file_size(const lt_torchpt *pt);
/* The archive name (the folder every entry is under). */
const char *lt_pt_archive_name(const lt_torchpt *pt);
/* Tensor i in the state dict's order (name as stored, shape outermost first). Its data stays
 * valid while pt is open, or after lt_pt_take_map while the taken mapping is (for a tensor
 * with out->mapped; copies stay pt's). */
void lt_pt_tensor(const lt_torchpt *pt, int64_t i, lt_src_tensor *out);
int64_t lt_pt_find(const lt_torchpt *pt, const char *name); /* index or -1 */
/* Hands the file mapping to the caller (who unmaps it with lt_file_unmap); lt_pt_close then
 * leaves it mapped. */
void lt_pt_take_map(lt_torchpt *pt, void **map, size_t *size);

/* Writes tensors (f16, bf16 or f32; at most 4 dimensions; names unique) as a state dict in
 * their order, under archive name `archive` (NULL: the file's stem, as torch.save names it).
 * The file is written beside path and renamed when complete. */
lt_status lt_pt_write(const char *path, const char *archive, const lt_st_entry *e, int64_t n, lt_err *err);

#endif
