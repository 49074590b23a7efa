//! Pack files: the immutable, self-describing blob store.
//!
//! # Format (all integers little-endian)
//!
//! ```text
//! pack    := "TTVPACK1" blob* trailer footer
//! blob    := header(48) stored-bytes
//! header  := "TTB1" kind:u8 codec:u8 0:u16 raw_len:u32 stored_len:u32 hash:[32]
//! trailer := (offset:u64 header(48))*          -- one per blob, offset of its stored bytes
//! footer  := "TTVPEND1" count:u32 trailer_len:u32 blake3(trailer):[32]   -- 48 bytes
//! ```
//!
//! `hash` is the BLAKE3 of the blob's raw (decoded) bytes and is its id everywhere.
//! `kind` says what the raw bytes are: 0 file data, 1 a file map (a multi-chunk
//! file's chunk list), 2 a snapshot manifest (see `manifest.rs`) or 3 a tombstone
//! (the ids of forgotten snapshots, see `tombstone.rs`). `codec` is 0 raw, 1 zstd.
//!
//! Every blob carries its own header, so a pack whose tail was lost can still be
//! scanned blob by blob; the trailer repeats the headers so that reading a pack's
//! table of contents costs one small read at the end. (Its entries start with the
//! offset, never with the blob magic, so a scan stops where the trailer begins: no
//! offset in a pack of tens of MiB spells "TTB1".) Together they let
//! `rebuild-index` recover the whole index from packs alone.
//!
//! A pack is written as `packs/<first two hex digits>/<id>.pack.tmp`, fsynced, renamed
//! to `<id>.pack` in that folder and the folder fsynced (one folder holds both names,
//! and a folder is made durable in `packs/` when it is created; a new vault has all
//! 256 from `init`); only then is it committed to the index. The id is
//! 16 random bytes in lower-case hex (32 digits): packs are never rewritten, so the
//! name need not be derived from the content. A file under `packs/` with any other
//! name, or in the wrong folder, is not a pack ([`is_pack_id`]).
//!
//! # Limits
//!
//! Nothing read from a pack is trusted before it is checked: every offset and length
//! in a header, the trailer or the footer must lie inside the file, and a blob's
//! lengths must respect the format's caps before anything is allocated for it. A data
//! blob is one chunk, so its raw length is at most the chunker's
//! [`MAX_CHUNK`](super::chunker::MAX_CHUNK); a file map, manifest or tombstone at most
//! [`MAX_META_BLOB`]. A raw blob's stored length equals its raw length; a zstd blob
//! is only kept when it is smaller than its raw bytes, so its stored length is at most
//! its raw length. A sealed blob (version 2, below) adds exactly [`SEALED_OVERHEAD`]
//! to those stored lengths. The writer refuses blobs over these caps, so every pack
//! it writes reads back.
//!
//! Prune (`pruner.rs`) never edits a pack either: it copies the live blobs of a
//! partly used pack verbatim (same stored bytes, same codec) into new packs,
//! commits the index, and only then deletes the old file.
//!
//! # Version 2: the sealed pack of an encrypted vault
//!
//! An encrypted vault (see `crypto/`) writes only version-2 packs; an unencrypted one
//! only version 1, which stays readable as it is. `seal(AD, x)` is
//! `nonce:[24] XChaCha20-Poly1305(x) tag:[16]` under the vault's blob key.
//!
//! ```text
//! pack    := "TTVPACK2" blob* sealed-trailer footer
//! blob    := header(48) sealed
//! header  := "TTB2" 0:[8] sealed_len:u32 id:[32]        -- the v1 layout, kind/codec/raw_len zeroed
//! sealed  := seal(AD = id, kind:u8 codec:u8 0:u16 raw_len:u32 stored-bytes)
//! sealed-trailer := seal(AD = "TTVPACK2 trailer", (offset:u64 v1-header(48))*)
//! footer  := "TTVPEND2" 0:u32 sealed_trailer_len:u32 0:[32]
//! ```
//!
//! `id` is the keyed BLAKE3 of the raw bytes, meaningless without the key; the
//! in-trailer headers carry the true kind, codec and raw length, with `stored_len`
//! the sealed length (and so do the index's rows). So a pack shows no file names, no
//! kinds, no raw sizes and no blob count; what it does show is the sealed size of
//! each blob (a chunk's size, give or take compression, as in restic and borg). The
//! id is the blob's associated data, so a sealed blob cannot be passed off as
//! another; a scan (lost trailer) opens each blob to learn its kind.
//!
//! Sealing is done by [`PackedBlob::new`] on the caller's thread (the snapshot's
//! hashing workers), not by the writer, so that it runs on every core.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use rand::RngCore;

use super::chunker::Hash;
use super::codec::Codec;
use super::crypto::{self, seal, Keys};
use super::page_cache::WriteBehind;

pub const PACK_MAGIC: &[u8; 8] = b"TTVPACK1";
const BLOB_MAGIC: &[u8; 4] = b"TTB1";
const FOOTER_MAGIC: &[u8; 8] = b"TTVPEND1";
pub const SEALED_PACK_MAGIC: &[u8; 8] = b"TTVPACK2";
const SEALED_BLOB_MAGIC: &[u8; 4] = b"TTB2";
const SEALED_FOOTER_MAGIC: &[u8; 8] = b"TTVPEND2";
const TRAILER_AD: &[u8] = b"TTVPACK2 trailer";
/// The plaintext prefix of a sealed blob: kind, codec, 0:u16, raw_len.
const INNER_LEN: usize = 8;
/// What sealing adds to a blob's stored bytes (its inner header, nonce and tag).
pub const SEALED_OVERHEAD: u32 = (INNER_LEN + seal::OVERHEAD) as u32;
pub const HEADER_LEN: usize = 48;
pub const TRAILER_ENTRY_LEN: usize = HEADER_LEN + 8;
pub const FOOTER_LEN: usize = 48;
/// Packs are closed once they pass this size: large enough that a vault of a
/// terabyte is tens of thousands of files, small enough that a repack is cheap.
pub const TARGET_PACK_SIZE: u64 = 32 * 1024 * 1024;
/// No pack the writer makes is longer: it closes a pack once past the target, so at
/// most the target, one blob of the largest kind (sealed) and the trailer (bounded
/// generously: a trailer entry per 32 bytes of blobs would be tens of MiB). A
/// download claiming more is refused before a byte is written.
pub const MAX_PACK_LEN: u64 = TARGET_PACK_SIZE + MAX_META_BLOB as u64 + 128 * 1024 * 1024;
pub const TMP_SUFFIX: &str = ".pack.tmp";
/// The largest file map, manifest or tombstone (raw bytes): a manifest of about two
/// million entries, a file map of a file of several terabytes.
pub const MAX_META_BLOB: u32 = 512 * 1024 * 1024;
/// Digits in a pack id (16 random bytes in hex).
const ID_LEN: usize = 32;

/// True for a well-formed pack id: 32 lower-case hex digits.
pub fn is_pack_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the raw bytes of a blob are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlobKind {
    Data = 0,
    FileMap = 1,
    Manifest = 2,
    /// Names snapshots that were forgotten, so that `rebuild-index` does not bring
    /// back a manifest still sitting in a pack (see `tombstone.rs`).
    Tombstone = 3,
}

impl BlobKind {
    pub fn from_u8(v: u8) -> Option<BlobKind> {
        match v {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::FileMap),
            2 => Some(BlobKind::Manifest),
            3 => Some(BlobKind::Tombstone),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub kind: BlobKind,
    pub codec: Codec,
    pub raw_len: u32,
    pub stored_len: u32,
    pub hash: Hash,
}

impl BlobHeader {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(BLOB_MAGIC);
        b[4] = self.kind as u8;
        b[5] = self.codec as u8;
        b[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.stored_len.to_le_bytes());
        b[16..48].copy_from_slice(&self.hash);
        b
    }

    /// The in-pack header of a sealed blob: only its length and keyed id show.
    fn encode_sealed(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(SEALED_BLOB_MAGIC);
        b[12..16].copy_from_slice(&self.stored_len.to_le_bytes());
        b[16..48].copy_from_slice(&self.hash);
        b
    }

    /// The on-disk header of this blob in a sealed pack or a plain one.
    fn encode_for(&self, sealed: bool) -> [u8; HEADER_LEN] {
        if sealed {
            self.encode_sealed()
        } else {
            self.encode()
        }
    }

    /// What a sealed blob's plaintext starts with: the header fields its in-pack
    /// header hides.
    fn inner(&self) -> [u8; INNER_LEN] {
        let mut b = [0u8; INNER_LEN];
        b[0] = self.kind as u8;
        b[1] = self.codec as u8;
        b[4..8].copy_from_slice(&self.raw_len.to_le_bytes());
        b
    }

    /// Parses a version-1 header (a plain pack's in-pack header, or any trailer
    /// entry's); `None` unless it is well formed and within the caps.
    fn decode(b: &[u8], sealed: bool) -> Option<BlobHeader> {
        if b.len() < HEADER_LEN || &b[..4] != BLOB_MAGIC {
            return None;
        }
        let h = BlobHeader {
            kind: BlobKind::from_u8(b[4])?,
            codec: Codec::from_u8(b[5])?,
            raw_len: u32::from_le_bytes(b[8..12].try_into().ok()?),
            stored_len: u32::from_le_bytes(b[12..16].try_into().ok()?),
            hash: b[16..48].try_into().ok()?,
        };
        h.check(sealed).ok()?;
        Some(h)
    }

    /// Checks the lengths against the format's caps (see the module docs); `sealed`
    /// when the blob is in a sealed pack, whose stored length includes the sealing.
    pub fn check(&self, sealed: bool) -> Result<(), String> {
        let cap = match self.kind {
            BlobKind::Data => super::chunker::MAX_CHUNK as u32,
            _ => MAX_META_BLOB,
        };
        if self.raw_len > cap {
            return Err(format!(
                "blob {} claims {} raw bytes, over the limit of {cap} for its kind",
                hex::encode(&self.hash[..8]),
                self.raw_len
            ));
        }
        let overhead = if sealed { SEALED_OVERHEAD } else { 0 };
        let fits = match (self.codec, self.stored_len.checked_sub(overhead)) {
            (_, None) => false,
            (Codec::Raw, Some(encoded)) => encoded == self.raw_len,
            (Codec::Zstd, Some(encoded)) => encoded <= self.raw_len,
        };
        if !fits {
            return Err(format!(
                "blob {} claims {} stored bytes for {} raw bytes ({:?})",
                hex::encode(&self.hash[..8]),
                self.stored_len,
                self.raw_len,
                self.codec
            ));
        }
        Ok(())
    }
}

/// A blob's place in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    pub header: BlobHeader,
    /// Offset of the stored bytes (just past the blob header).
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("pack {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pack {path} is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
    /// A sealed blob or trailer that does not open: altered, or not this vault's.
    #[error("pack {path}: {what}: authentication failed (altered, or sealed under another key)")]
    Auth { path: PathBuf, what: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where pack `id` lives. A malformed id (a damaged index row) maps to a name no
/// pack can have, inside `packs/`, so that reading it fails cleanly and nothing
/// outside the vault is ever touched.
pub fn pack_path(packs_dir: &Path, id: &str) -> PathBuf {
    if is_pack_id(id) {
        pack_dir(packs_dir, id).join(format!("{id}.pack"))
    } else {
        packs_dir
            .join("invalid-pack-id")
            .join(format!("{}.pack", hex::encode(id.as_bytes())))
    }
}

/// A blob ready for a pack: its header (whose `stored_len` is its length in the
/// pack) and the bytes that follow the header there, sealed in an encrypted vault.
/// Built on any thread, so that sealing runs in parallel; appended by
/// [`PackWriter::push`].
#[derive(Debug)]
pub struct PackedBlob {
    header: BlobHeader,
    bytes: Vec<u8>,
    sealed: bool,
}

impl PackedBlob {
    /// `stored` is the encoded form (`codec`) of `raw_len` raw bytes whose id is
    /// `hash`; with `keys` it is sealed. Refuses a blob over the format's caps.
    pub fn new(
        keys: Option<&Keys>,
        kind: BlobKind,
        codec: Codec,
        hash: Hash,
        raw_len: usize,
        stored: Vec<u8>,
    ) -> Result<PackedBlob, String> {
        let too_big = || format!("a blob of {raw_len} bytes is too large");
        let mut header = BlobHeader {
            kind,
            codec,
            raw_len: u32::try_from(raw_len).map_err(|_| too_big())?,
            stored_len: u32::try_from(stored.len()).map_err(|_| too_big())?,
            hash,
        };
        header.check(false)?;
        let Some(keys) = keys else {
            return Ok(PackedBlob {
                header,
                bytes: stored,
                sealed: false,
            });
        };
        let bytes = keys.seal_parts(&hash, &[&header.inner(), &stored]);
        // Within u32: the caps checked above leave room for the overhead.
        header.stored_len += SEALED_OVERHEAD;
        debug_assert_eq!(header.stored_len as usize, bytes.len());
        Ok(PackedBlob {
            header,
            bytes,
            sealed: true,
        })
    }

    /// Its length in a pack, header included.
    pub fn pack_len(&self) -> u64 {
        (HEADER_LEN + self.bytes.len()) as u64
    }

    pub fn hash(&self) -> &Hash {
        &self.header.hash
    }
}

/// Writes one pack; see the module docs for the protocol.
pub struct PackWriter {
    packs_dir: PathBuf,
    id: String,
    tmp_path: PathBuf,
    out: BufWriter<WriteBehind>,
    len: u64,
    entries: Vec<BlobEntry>,
    /// Set in an encrypted vault: the pack is written sealed (version 2).
    keys: Option<Arc<Keys>>,
}

/// A pack that is durably in place under its final name.
#[derive(Debug, Clone)]
pub struct FinishedPack {
    pub id: String,
    pub size: u64,
    pub entries: Vec<BlobEntry>,
}

impl PackWriter {
    /// A new pack; sealed (version 2) when `keys` are given.
    pub fn create(packs_dir: &Path, keys: Option<Arc<Keys>>) -> Result<PackWriter, PackError> {
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        // Written beside its final name, so that the rename touches one folder and
        // one fsync of it makes the pack's name durable (see `finish`).
        let dir = pack_dir(packs_dir, &id);
        create_dir(packs_dir, &dir)?;
        let tmp_path = dir.join(format!("{id}{TMP_SUFFIX}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)
            .map_err(io_err(&tmp_path))?;
        let mut out = BufWriter::with_capacity(1 << 20, WriteBehind::new(file));
        let magic = if keys.is_some() {
            SEALED_PACK_MAGIC
        } else {
            PACK_MAGIC
        };
        out.write_all(magic).map_err(io_err(&tmp_path))?;
        Ok(PackWriter {
            packs_dir: packs_dir.to_path_buf(),
            id,
            tmp_path,
            out,
            len: magic.len() as u64,
            entries: Vec::new(),
            keys,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn sealed(&self) -> bool {
        self.keys.is_some()
    }

    fn refused(&self, what: String) -> PackError {
        PackError::Damaged {
            path: self.tmp_path.clone(),
            what,
        }
    }

    /// Packs (seals, in an encrypted vault) and appends one blob.
    pub fn append(
        &mut self,
        kind: BlobKind,
        codec: Codec,
        hash: Hash,
        raw_len: usize,
        stored: &[u8],
    ) -> Result<BlobEntry, PackError> {
        let keys = self.keys.as_deref();
        let blob = PackedBlob::new(keys, kind, codec, hash, raw_len, stored.to_vec())
            .map_err(|what| self.refused(what))?;
        self.push(&blob)
    }

    /// Appends a blob packed by [`PackedBlob::new`] with this vault's keys.
    pub fn push(&mut self, blob: &PackedBlob) -> Result<BlobEntry, PackError> {
        if blob.sealed != self.sealed() {
            return Err(self.refused("a sealed blob in a plain pack, or the reverse".into()));
        }
        self.write_blob(blob.header, &blob.bytes)
    }

    /// Appends a blob read from another pack of this vault, its stored (and, in an
    /// encrypted vault, sealed) bytes unchanged: what prune does.
    pub fn copy(&mut self, header: BlobHeader, stored: &[u8]) -> Result<BlobEntry, PackError> {
        header
            .check(self.sealed())
            .map_err(|what| self.refused(what))?;
        if stored.len() != header.stored_len as usize {
            return Err(self.refused("a copied blob's length disagrees with its header".into()));
        }
        self.write_blob(header, stored)
    }

    fn write_blob(&mut self, header: BlobHeader, stored: &[u8]) -> Result<BlobEntry, PackError> {
        let path = &self.tmp_path;
        let on_disk = header.encode_for(self.keys.is_some());
        self.out.write_all(&on_disk).map_err(io_err(path))?;
        self.out.write_all(stored).map_err(io_err(path))?;
        let entry = BlobEntry {
            header,
            offset: self.len + HEADER_LEN as u64,
        };
        self.len += (HEADER_LEN + stored.len()) as u64;
        self.entries.push(entry);
        Ok(entry)
    }

    /// The trailer and footer: plain and checksummed, or sealed.
    fn trailer_and_footer(&self) -> (Vec<u8>, Vec<u8>) {
        let mut trailer = Vec::with_capacity(self.entries.len() * TRAILER_ENTRY_LEN);
        for e in &self.entries {
            trailer.extend_from_slice(&e.offset.to_le_bytes());
            trailer.extend_from_slice(&e.header.encode());
        }
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        if let Some(keys) = &self.keys {
            trailer = keys.seal(TRAILER_AD, &trailer);
            footer.extend_from_slice(SEALED_FOOTER_MAGIC);
            footer.extend_from_slice(&0u32.to_le_bytes());
            footer.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
            footer.extend_from_slice(&[0u8; 32]);
        } else {
            footer.extend_from_slice(FOOTER_MAGIC);
            footer.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
            footer.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
            footer.extend_from_slice(blake3::hash(&trailer).as_bytes());
        }
        (trailer, footer)
    }

    /// Writes the trailer, makes the pack durable and moves it to its final name.
    pub fn finish(mut self) -> Result<FinishedPack, PackError> {
        let (trailer, footer) = self.trailer_and_footer();
        let tmp = self.tmp_path.clone();
        self.out.write_all(&trailer).map_err(io_err(&tmp))?;
        self.out.write_all(&footer).map_err(io_err(&tmp))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&tmp)(e.into_error()))?
            .into_inner();
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        let size = self.len + (trailer.len() + FOOTER_LEN) as u64;
        let final_path = pack_path(&self.packs_dir, &self.id);
        fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;
        // The old name and the new are in this one folder (see `create`), which was
        // itself made durable in its parent when it was created.
        sync_dir(&pack_dir(&self.packs_dir, &self.id))?;
        Ok(FinishedPack {
            id: self.id,
            size,
            entries: self.entries,
        })
    }

    /// Gives up on the pack (its blobs were never committed anywhere).
    pub fn abandon(self) {
        let path = self.tmp_path.clone();
        drop(self.out);
        let _ = fs::remove_file(path);
    }
}

pub fn sync_dir(dir: &Path) -> Result<(), PackError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The folder of pack `id` (a well-formed id): `packs/<first two hex digits>`.
fn pack_dir(packs_dir: &Path, id: &str) -> PathBuf {
    packs_dir.join(&id[..2])
}

/// Creates pack folder `dir` (0700) and makes its name durable in `packs_dir` at
/// once: a pack renamed into it is committed after an fsync of `dir` alone, and that
/// must not depend on which writer created the folder or when.
fn create_dir(packs_dir: &Path, dir: &Path) -> Result<(), PackError> {
    if make_dir(dir)? {
        sync_dir(packs_dir)?;
    }
    Ok(())
}

/// Creates the 256 pack folders a new vault will use, with one fsync of `packs_dir`,
/// so that a first snapshot's packs never wait for a folder of their own.
pub fn create_pack_dirs(packs_dir: &Path) -> Result<(), PackError> {
    for prefix in 0..=255u8 {
        make_dir(&packs_dir.join(hex::encode([prefix])))?;
    }
    sync_dir(packs_dir)
}

/// Creates `dir` (and missing parents) 0700; true when it did not exist.
fn make_dir(dir: &Path) -> Result<bool, PackError> {
    if dir.is_dir() {
        return Ok(false);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))?;
    Ok(true)
}

/// Reads a pack's table of contents from its trailer. Every entry is checked: its
/// header within the caps, its stored bytes inside the blob area (after the magic,
/// before the trailer), so that later reads need no further trust in the file.
/// `keys` are the vault's: a sealed pack needs them, and an encrypted vault accepts
/// sealed packs only.
pub fn read_index(path: &Path, keys: Option<&Keys>) -> Result<(u64, Vec<BlobEntry>), PackError> {
    let f = File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let entries = read_toc(path, size, keys, &mut |offset, len| {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).map_err(io_err(path))?;
        Ok(buf)
    })?;
    Ok((size, entries))
}

/// [`read_index`] of a pack of `size` bytes read through `read(offset, len)`, which
/// gives exactly those bytes: a local file's, or a remote pack's tail fetched by
/// range. `path` names the pack in errors. `read` is asked only for ranges inside
/// `size`, and only after the footer's lengths were checked against it and the
/// format's caps: never for a length the pack alone chose.
pub fn read_toc(
    path: &Path,
    size: u64,
    keys: Option<&Keys>,
    read: &mut dyn FnMut(u64, usize) -> Result<Vec<u8>, PackError>,
) -> Result<Vec<BlobEntry>, PackError> {
    let damaged = |what: String| PackError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    if size < (PACK_MAGIC.len() + FOOTER_LEN) as u64 {
        return Err(damaged(format!("only {size} bytes, too short for a pack")));
    }
    let footer = read(size - FOOTER_LEN as u64, FOOTER_LEN)?;
    if footer.len() != FOOTER_LEN {
        return Err(damaged("the footer did not read whole".into()));
    }
    let sealed = match (&footer[..8], keys) {
        (m, None) if m == FOOTER_MAGIC => false,
        (m, Some(_)) if m == SEALED_FOOTER_MAGIC => true,
        (m, Some(_)) if m == FOOTER_MAGIC => {
            return Err(damaged("an unencrypted pack in an encrypted vault".into()))
        }
        (m, None) if m == SEALED_FOOTER_MAGIC => {
            return Err(damaged("a sealed pack, but the vault has no keys".into()))
        }
        _ => return Err(damaged("no footer (truncated or overwritten)".into())),
    };
    let count = u64::from(u32::from_le_bytes(footer[8..12].try_into().unwrap()));
    let trailer_len = u64::from(u32::from_le_bytes(footer[12..16].try_into().unwrap()));
    let fixed = (FOOTER_LEN + PACK_MAGIC.len()) as u64;
    let entries_fit = match sealed {
        false => trailer_len == count * TRAILER_ENTRY_LEN as u64,
        true => trailer_len >= seal::OVERHEAD as u64,
    };
    if !entries_fit || trailer_len + fixed > size || trailer_len > MAX_PACK_LEN {
        return Err(damaged("footer sizes do not fit the file".into()));
    }
    let blobs_end = size - FOOTER_LEN as u64 - trailer_len;
    // Bounded by the pack's size and MAX_PACK_LEN, checked just above.
    let mut trailer = read(blobs_end, trailer_len as usize)?;
    if trailer.len() as u64 != trailer_len {
        return Err(damaged("the trailer did not read whole".into()));
    }
    if let Some(keys) = keys {
        trailer = keys
            .open(TRAILER_AD, &trailer)
            .map_err(|_| PackError::Auth {
                path: path.to_path_buf(),
                what: "the trailer".into(),
            })?;
        if trailer.len() % TRAILER_ENTRY_LEN != 0 {
            return Err(damaged("the sealed trailer has a partial entry".into()));
        }
    } else if blake3::hash(&trailer).as_bytes() != &footer[16..48] {
        return Err(damaged("trailer checksum mismatch".into()));
    }
    let mut entries = Vec::with_capacity(trailer.len() / TRAILER_ENTRY_LEN);
    for (i, raw) in trailer.chunks_exact(TRAILER_ENTRY_LEN).enumerate() {
        let offset = u64::from_le_bytes(raw[..8].try_into().unwrap());
        let header = BlobHeader::decode(&raw[8..], sealed)
            .ok_or_else(|| damaged(format!("bad blob header in trailer entry {i}")))?;
        let entry = BlobEntry { header, offset };
        check_place(&entry, blobs_end, sealed)
            .map_err(|what| damaged(format!("trailer entry {i}: {what}")))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Checks that a blob (header and stored bytes) lies after the pack magic and ends
/// by `end`, and that its header is within the caps.
fn check_place(entry: &BlobEntry, end: u64, sealed: bool) -> Result<(), String> {
    entry.header.check(sealed)?;
    let first = (PACK_MAGIC.len() + HEADER_LEN) as u64;
    let fits = entry.offset >= first
        && entry
            .offset
            .checked_add(u64::from(entry.header.stored_len))
            .is_some_and(|stop| stop <= end);
    if fits {
        Ok(())
    } else {
        Err(format!(
            "blob {} at offset {} ({} bytes) lies outside the {end} bytes of blobs",
            hex::encode(&entry.header.hash[..8]),
            entry.offset,
            entry.header.stored_len
        ))
    }
}

/// What a pack holds, by its trailer, else by scanning it.
#[derive(Debug)]
pub struct Contents {
    pub size: u64,
    pub entries: Vec<BlobEntry>,
    /// True when the trailer did not read and the entries come from a scan.
    pub salvaged: bool,
}

pub fn contents(path: &Path, keys: Option<&Keys>) -> Result<Contents, PackError> {
    if let Ok((size, entries)) = read_index(path, keys) {
        return Ok(Contents {
            size,
            entries,
            salvaged: false,
        });
    }
    let entries = scan(path, keys)?;
    let size = fs::metadata(path).map_err(io_err(path))?.len();
    Ok(Contents {
        size,
        entries,
        salvaged: true,
    })
}

/// Walks a pack blob by blob from the front, for packs whose trailer is lost.
/// Returns the blobs whose headers read cleanly (and, sealed, open), up to the
/// first damage.
pub fn scan(path: &Path, keys: Option<&Keys>) -> Result<Vec<BlobEntry>, PackError> {
    let f = File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let mut magic = [0u8; 8];
    let expected = if keys.is_some() {
        SEALED_PACK_MAGIC
    } else {
        PACK_MAGIC
    };
    if f.read_exact_at(&mut magic, 0).is_err() || &magic != expected {
        return Err(PackError::Damaged {
            path: path.to_path_buf(),
            what: "not a tt-vault pack of this vault (bad magic)".into(),
        });
    }
    let mut entries = Vec::new();
    let mut pos = PACK_MAGIC.len() as u64;
    let mut head = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= size {
        if f.read_exact_at(&mut head, pos).is_err() {
            break;
        }
        let offset = pos + HEADER_LEN as u64;
        let header = match keys {
            None => BlobHeader::decode(&head, false),
            Some(k) => scan_sealed(&f, k, &head, offset, size),
        };
        let Some(header) = header else {
            break;
        };
        if offset + header.stored_len as u64 > size {
            break;
        }
        entries.push(BlobEntry { header, offset });
        pos = offset + header.stored_len as u64;
    }
    Ok(entries)
}

/// The full header of the sealed blob whose in-pack header is `head`, by opening it.
fn scan_sealed(f: &File, keys: &Keys, head: &[u8], offset: u64, size: u64) -> Option<BlobHeader> {
    if &head[..4] != SEALED_BLOB_MAGIC {
        return None;
    }
    let stored_len = u32::from_le_bytes(head[12..16].try_into().ok()?);
    let hash: Hash = head[16..48].try_into().ok()?;
    // Bounded by the caps and by the file before anything is allocated.
    let limit = MAX_META_BLOB.max(super::chunker::MAX_CHUNK as u32) + SEALED_OVERHEAD;
    if stored_len > limit || offset + u64::from(stored_len) > size {
        return None;
    }
    let mut sealed = vec![0u8; stored_len as usize];
    f.read_exact_at(&mut sealed, offset).ok()?;
    let plain = keys.open(&hash, &sealed).ok()?;
    let inner = plain.get(..INNER_LEN)?;
    let header = BlobHeader {
        kind: BlobKind::from_u8(inner[0])?,
        codec: Codec::from_u8(inner[1])?,
        raw_len: u32::from_le_bytes(inner[4..8].try_into().ok()?),
        stored_len,
        hash,
    };
    header.check(true).ok()?;
    Some(header)
}

/// Reads the stored bytes of one blob (sealed, in an encrypted vault) and checks its
/// in-pack header. The entry may come from the index, so its place and lengths are
/// checked against the file first.
pub fn read_stored(
    f: &File,
    path: &Path,
    entry: &BlobEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    let damaged = |what: String| PackError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    let sealed = keys.is_some();
    let size = f.metadata().map_err(io_err(path))?.len();
    check_place(entry, size, sealed).map_err(damaged)?;
    let start = entry.offset - HEADER_LEN as u64;
    let mut head = [0u8; HEADER_LEN];
    f.read_exact_at(&mut head, start).map_err(io_err(path))?;
    check_head(path, entry, &head, sealed)?;
    let mut buf = vec![0u8; entry.header.stored_len as usize];
    f.read_exact_at(&mut buf, entry.offset)
        .map_err(io_err(path))?;
    Ok(buf)
}

/// Checks the in-pack header found at `entry`'s place against the entry (from the
/// index or a trailer): the bytes there are the blob it names.
fn check_head(path: &Path, entry: &BlobEntry, head: &[u8], sealed: bool) -> Result<(), PackError> {
    if head != entry.header.encode_for(sealed) {
        return Err(PackError::Damaged {
            path: path.to_path_buf(),
            what: format!(
                "blob header at offset {} does not match the index",
                entry.offset.saturating_sub(HEADER_LEN as u64)
            ),
        });
    }
    Ok(())
}

/// Where blob `entry` lies in its pack, its in-pack header included: the range a
/// reader of a remote pack fetches to read it alone (see [`raw_from`]).
pub fn blob_range(entry: &BlobEntry) -> std::ops::Range<u64> {
    entry.offset.saturating_sub(HEADER_LEN as u64)
        ..entry
            .offset
            .saturating_add(u64::from(entry.header.stored_len))
}

/// One blob's raw bytes from `bytes`, what lies at its [`blob_range`] (a ranged
/// read of a remote pack), checked as [`read_raw`] checks a file's.
pub fn raw_from(
    path: &Path,
    entry: &BlobEntry,
    bytes: &[u8],
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    if bytes.len() as u64 != HEADER_LEN as u64 + u64::from(entry.header.stored_len) {
        return Err(PackError::Damaged {
            path: path.to_path_buf(),
            what: format!(
                "blob {}: a partial read",
                hex::encode(&entry.header.hash[..8])
            ),
        });
    }
    let (head, stored) = bytes.split_at(HEADER_LEN);
    check_head(path, entry, head, keys.is_some())?;
    decode_checked(path, entry, stored, keys)
}

/// Checks a sealed blob's stored bytes against their tag without opening them: any
/// altered byte fails, at a third of the cost of opening, decoding and re-hashing.
pub fn authenticate_stored(
    path: &Path,
    entry: &BlobEntry,
    stored: &[u8],
    keys: &Keys,
) -> Result<(), PackError> {
    keys.authenticate(&entry.header.hash, stored)
        .map_err(|_| PackError::Auth {
            path: path.to_path_buf(),
            what: format!("blob {}", hex::encode(&entry.header.hash[..8])),
        })
}

/// Opens (in an encrypted vault), decodes and id-checks a blob's stored bytes.
pub fn decode_checked(
    path: &Path,
    entry: &BlobEntry,
    stored: &[u8],
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    decode_owned(path, entry, stored.to_vec(), keys, true).map(RawBlob::into_vec)
}

/// A blob's raw bytes where they lie in the buffer they were read into: an opened
/// blob starts after its nonce and sealed header, and moving it to the front would
/// cost a copy of every chunk a restore writes.
pub struct RawBlob {
    buf: Vec<u8>,
    start: usize,
}

impl std::ops::Deref for RawBlob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl RawBlob {
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }
}

/// [`decode_checked`] on a buffer it may reuse: opened in place, and a raw blob's
/// bytes returned in it, so that a chunk is not copied on its way out.
///
/// `rehash` false leaves out re-deriving a sealed blob's keyed id: its tag has
/// already proved it is the blob sealed under that id. For callers that hash what
/// they read as a whole anyway (a restored file); a plain blob is always re-hashed,
/// since nothing else would find its damage.
fn decode_owned(
    path: &Path,
    entry: &BlobEntry,
    mut stored: Vec<u8>,
    keys: Option<&Keys>,
    rehash: bool,
) -> Result<RawBlob, PackError> {
    let damaged = |what: String| PackError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    let h = &entry.header;
    let short = hex::encode(&h.hash[..8]);
    let mut start = 0;
    if let Some(k) = keys {
        let plain = k
            .open_in_place(&h.hash, &mut stored)
            .map_err(|_| PackError::Auth {
                path: path.to_path_buf(),
                what: format!("blob {short}"),
            })?;
        if stored[plain.clone()].get(..INNER_LEN) != Some(&h.inner()[..]) {
            return Err(damaged(format!(
                "blob {short}: its sealed header disagrees with the trailer"
            )));
        }
        stored.truncate(plain.end);
        start = plain.start + INNER_LEN;
    }
    let body = &stored[start..];
    let raw = match h.codec {
        Codec::Raw if body.len() == h.raw_len as usize => RawBlob { buf: stored, start },
        Codec::Raw => {
            return Err(damaged(format!(
                "blob {short} holds {} bytes, not its {}",
                body.len(),
                h.raw_len
            )))
        }
        codec => RawBlob {
            buf: super::codec::decode(codec, body, h.raw_len as usize)
                .map_err(|e| damaged(format!("blob {short} cannot be decoded: {e}")))?,
            start: 0,
        },
    };
    if (rehash || keys.is_none()) && crypto::id(keys, &raw) != h.hash {
        let what = if keys.is_some() {
            "keyed BLAKE3"
        } else {
            "BLAKE3"
        };
        return Err(damaged(format!("blob {short} does not match its {what}")));
    }
    Ok(raw)
}

/// One blob's raw bytes, read, opened, decoded and id-checked.
pub fn read_raw(
    f: &File,
    path: &Path,
    entry: &BlobEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    read_blob(f, path, entry, keys, true).map(RawBlob::into_vec)
}

/// As [`read_raw`], in place, and with the choice of `rehash` (see [`decode_owned`]).
pub fn read_blob(
    f: &File,
    path: &Path,
    entry: &BlobEntry,
    keys: Option<&Keys>,
    rehash: bool,
) -> Result<RawBlob, PackError> {
    decode_owned(
        path,
        entry,
        read_stored(f, path, entry, keys)?,
        keys,
        rehash,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunker::hash;
    use std::os::unix::fs::PermissionsExt;

    fn write_pack(dir: &Path, blobs: &[&[u8]]) -> FinishedPack {
        let mut w = PackWriter::create(dir, None).unwrap();
        for b in blobs {
            w.append(BlobKind::Data, Codec::Raw, hash(b), b.len(), b)
                .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trip_through_trailer_and_scan() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: [&[u8]; 3] = [b"one", b"", b"three three"];
        let p = write_pack(dir.path(), &blobs);
        let path = pack_path(dir.path(), &p.id);
        let (size, entries) = read_index(&path, None).unwrap();
        assert_eq!(size, fs::metadata(&path).unwrap().len());
        assert_eq!(entries, p.entries);
        assert_eq!(scan(&path, None).unwrap(), p.entries);
        let f = File::open(&path).unwrap();
        for (e, b) in entries.iter().zip(blobs) {
            assert_eq!(read_stored(&f, &path, e, None).unwrap(), b);
            assert_eq!(e.header.hash, hash(b));
        }
        // The pack's folder holds the pack alone: no temporary file is left behind.
        let folder: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(folder, vec![path.clone()]);
    }

    /// A pack is written under a temporary name in its own folder (one folder to
    /// fsync after the rename); a new vault has all 256 folders from the start.
    #[test]
    fn a_pack_is_written_beside_its_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(dir.path(), None).unwrap();
        let folder = dir.path().join(&w.id[..2]);
        assert_eq!(w.tmp_path.parent(), Some(folder.as_path()));
        assert!(w.tmp_path.is_file());
        w.append(BlobKind::Data, Codec::Raw, hash(b"x"), 1, b"x")
            .unwrap();
        let p = w.finish().unwrap();
        assert!(pack_path(dir.path(), &p.id).is_file());

        create_pack_dirs(dir.path()).unwrap();
        let folders = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(folders, 256);
        for d in fs::read_dir(dir.path()).unwrap() {
            let mode = d.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_sealed_pack_reads_only_with_its_keys_and_scans_when_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::generate());
        let blobs: [&[u8]; 2] = [b"secret one", b"secret two, longer"];
        let mut w = PackWriter::create(dir.path(), Some(keys.clone())).unwrap();
        for b in blobs {
            let id = crypto::id(Some(&keys), b);
            w.append(BlobKind::Manifest, Codec::Raw, id, b.len(), b)
                .unwrap();
        }
        let p = w.finish().unwrap();
        let path = pack_path(dir.path(), &p.id);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], SEALED_PACK_MAGIC);
        assert!(!bytes.windows(6).any(|w| w == b"secret"));
        let (_, entries) = read_index(&path, Some(&keys)).unwrap();
        assert_eq!(entries, p.entries);
        assert_eq!(entries[0].header.kind, BlobKind::Manifest);
        let f = File::open(&path).unwrap();
        for (e, b) in entries.iter().zip(blobs) {
            assert_eq!(read_raw(&f, &path, e, Some(&keys)).unwrap(), b);
        }
        // Without the keys, or with another vault's, nothing reads.
        assert!(read_index(&path, None).is_err());
        let other = Keys::generate();
        assert!(matches!(
            read_index(&path, Some(&other)),
            Err(PackError::Auth { .. })
        ));
        assert!(matches!(
            read_raw(&f, &path, &entries[0], Some(&other)),
            Err(PackError::Auth { .. })
        ));
        // A lost trailer: the blobs are found by opening them one by one.
        let fh = OpenOptions::new().write(true).open(&path).unwrap();
        fh.set_len(bytes.len() as u64 - 10).unwrap();
        assert!(read_index(&path, Some(&keys)).is_err());
        assert_eq!(scan(&path, Some(&keys)).unwrap(), p.entries);
        assert!(scan(&path, Some(&other)).unwrap().is_empty());
    }

    /// The caps of a sealed blob are the plain caps plus the sealing: a sealed raw
    /// chunk of the largest size reads back, one byte more does not.
    #[test]
    fn sealed_caps_allow_the_sealing_overhead_and_no_more() {
        let max = crate::store::chunker::MAX_CHUNK as u32;
        let h = BlobHeader {
            kind: BlobKind::Data,
            codec: Codec::Raw,
            raw_len: max,
            stored_len: max + SEALED_OVERHEAD,
            hash: [0; 32],
        };
        assert!(h.check(true).is_ok());
        assert!(h.check(false).is_err());
        let over = BlobHeader {
            stored_len: max + SEALED_OVERHEAD + 1,
            ..h
        };
        assert!(over.check(true).is_err());
        let short = BlobHeader {
            codec: Codec::Zstd,
            stored_len: SEALED_OVERHEAD - 1,
            ..h
        };
        assert!(short.check(true).is_err());
        let keys = Keys::generate();
        let big = vec![7u8; max as usize];
        let blob = PackedBlob::new(
            Some(&keys),
            BlobKind::Data,
            Codec::Raw,
            crypto::id(Some(&keys), &big),
            big.len(),
            big.clone(),
        )
        .unwrap();
        assert_eq!(
            blob.pack_len(),
            (HEADER_LEN as u32 + max + SEALED_OVERHEAD) as u64
        );
    }

    /// Finding 5 of issue 9: a trailer entry whose offset lies far past the end.
    #[test]
    fn offsets_and_lengths_outside_the_file_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_pack(dir.path(), &[b"aaaa", b"bbbb"]);
        let path = pack_path(dir.path(), &p.id);
        let f = File::open(&path).unwrap();
        for (offset, stored_len) in [(0xffff_ffff_ffff_fff0, 4), (0, 4), (8, 4), (60, 1 << 30)] {
            let mut e = p.entries[0];
            e.offset = offset;
            e.header.stored_len = stored_len;
            e.header.raw_len = stored_len;
            let err = read_raw(&f, &path, &e, None).unwrap_err().to_string();
            assert!(err.contains(&p.id), "{err}");
        }
        // The same offset in a trailer, with a checksum that agrees.
        let mut bytes = fs::read(&path).unwrap();
        let trailer_at = bytes.len() - FOOTER_LEN - 2 * TRAILER_ENTRY_LEN;
        bytes[trailer_at..trailer_at + 8].copy_from_slice(&0xffff_ffff_ffff_fff0u64.to_le_bytes());
        let trailer = bytes[trailer_at..bytes.len() - FOOTER_LEN].to_vec();
        let sum_at = bytes.len() - 32;
        bytes[sum_at..].copy_from_slice(blake3::hash(&trailer).as_bytes());
        fs::write(&path, &bytes).unwrap();
        let err = read_index(&path, None).unwrap_err().to_string();
        assert!(err.contains(&p.id) && err.contains("outside"), "{err}");
    }

    #[test]
    fn the_writer_refuses_blobs_over_the_caps() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(dir.path(), None).unwrap();
        let big = vec![0u8; crate::store::chunker::MAX_CHUNK + 1];
        assert!(w
            .append(BlobKind::Data, Codec::Raw, hash(&big), big.len(), &big)
            .is_err());
        assert!(w
            .append(BlobKind::Data, Codec::Zstd, hash(b"ab"), 1, b"ab")
            .is_err());
        w.abandon();
    }

    /// The keys the sealed samples below are written with.
    fn test_keys() -> Arc<Keys> {
        static KEYS: std::sync::OnceLock<Arc<Keys>> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| Arc::new(Keys::generate())).clone()
    }

    /// A valid pack of a few blobs, as bytes: plain, or sealed with [`test_keys`].
    fn sample_pack(sealed: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let keys = sealed.then(test_keys);
        let mut w = PackWriter::create(dir.path(), keys.clone()).unwrap();
        for b in [&b"one"[..], b"", b"three three"] {
            let id = crypto::id(keys.as_deref(), b);
            w.append(BlobKind::Data, Codec::Raw, id, b.len(), b)
                .unwrap();
        }
        let p = w.finish().unwrap();
        fs::read(pack_path(dir.path(), &p.id)).unwrap()
    }

    /// A reader of pack `bytes` as the census reads a remote one: its last `tail`
    /// bytes are at hand, anything else is a request, and every request is logged.
    #[allow(clippy::type_complexity)]
    fn serve(
        bytes: &[u8],
        tail: usize,
    ) -> (
        impl FnMut(u64, usize) -> Result<Vec<u8>, PackError> + '_,
        std::rc::Rc<std::cell::RefCell<Vec<(u64, usize)>>>,
    ) {
        let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let log = asked.clone();
        let start = bytes.len().saturating_sub(tail) as u64;
        let read = move |offset: u64, len: usize| {
            if offset < start {
                log.borrow_mut().push((offset, len));
            }
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            bytes
                .get(at..at.saturating_add(len))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| PackError::Damaged {
                    path: "tail".into(),
                    what: format!("no bytes {offset}+{len}"),
                })
        };
        (read, asked)
    }

    #[test]
    fn a_tail_reads_as_the_file_does_plain_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        for sealed in [false, true] {
            let bytes = sample_pack(sealed);
            let path = dir.path().join(format!("{sealed}.pack"));
            fs::write(&path, &bytes).unwrap();
            let keys = sealed.then(test_keys);
            let keys = keys.as_deref();
            let (_, from_file) = read_index(&path, keys).unwrap();
            let size = bytes.len() as u64;
            // The whole table of contents in the tail: no request beyond it.
            let (mut read, asked) = serve(&bytes, 64 * 1024);
            assert_eq!(read_toc(&path, size, keys, &mut read).unwrap(), from_file);
            assert!(asked.borrow().is_empty(), "{:?}", asked.borrow());
            // A tail shorter than the trailer: one more read, of exactly the trailer.
            let (mut read, asked) = serve(&bytes, FOOTER_LEN);
            assert_eq!(read_toc(&path, size, keys, &mut read).unwrap(), from_file);
            let trailer_len = if sealed {
                3 * TRAILER_ENTRY_LEN + seal::OVERHEAD
            } else {
                3 * TRAILER_ENTRY_LEN
            };
            let trailer_at = size - (FOOTER_LEN + trailer_len) as u64;
            assert_eq!(*asked.borrow(), vec![(trailer_at, trailer_len)]);
            // A blob read alone by its range, checked as a file's.
            let f = File::open(&path).unwrap();
            for e in &from_file {
                let r = blob_range(e);
                let raw = raw_from(&path, e, &bytes[r.start as usize..r.end as usize], keys);
                assert_eq!(raw.unwrap(), read_raw(&f, &path, e, keys).unwrap());
                let short = &bytes[r.start as usize..r.end as usize - 1];
                assert!(raw_from(&path, e, short, keys).is_err());
            }
            // Read with the wrong keys (none, or some for a plain pack): refused.
            let other = if sealed { None } else { Some(&*test_keys()) };
            let (mut read, _) = serve(&bytes, 64 * 1024);
            assert!(read_toc(&path, size, other, &mut read).is_err());
        }
    }

    #[test]
    fn a_damaged_tail_is_an_error_and_asks_for_nothing_the_footer_alone_sized() {
        let path = Path::new("remote.pack");
        for sealed in [false, true] {
            let keys = sealed.then(test_keys);
            let keys = keys.as_deref();
            let good = sample_pack(sealed);
            let footer_at = good.len() - FOOTER_LEN;
            // Truncated: the last bytes lost, so no footer where one should be.
            let cut = &good[..good.len() - 10];
            let (mut read, asked) = serve(cut, 64 * 1024);
            let e = read_toc(path, cut.len() as u64, keys, &mut read).unwrap_err();
            assert!(e.to_string().contains("no footer"), "{e}");
            assert!(asked.borrow().is_empty());
            // Too short to be a pack at all.
            let (mut read, _) = serve(&good[..20], 64);
            assert!(read_toc(path, 20, keys, &mut read).is_err());
            // The footer's magic overwritten.
            let mut bad = good.clone();
            bad[footer_at..footer_at + 8].copy_from_slice(b"XXXXXXXX");
            let (mut read, _) = serve(&bad, 64 * 1024);
            let e = read_toc(path, bad.len() as u64, keys, &mut read).unwrap_err();
            assert!(e.to_string().contains("no footer"), "{e}");
            // A trailer length past the pack (and past any tail): refused before a
            // read of that length is asked for.
            for len in [good.len() as u32, u32::MAX] {
                let mut bad = good.clone();
                bad[footer_at + 12..footer_at + 16].copy_from_slice(&len.to_le_bytes());
                if !sealed {
                    // Count agreeing with the length, as a forger would make it.
                    let count = len / TRAILER_ENTRY_LEN as u32;
                    bad[footer_at + 8..footer_at + 12].copy_from_slice(&count.to_le_bytes());
                }
                let (mut read, asked) = serve(&bad, FOOTER_LEN);
                let e = read_toc(path, bad.len() as u64, keys, &mut read).unwrap_err();
                assert!(e.to_string().contains("do not fit"), "{e}");
                assert!(asked.borrow().is_empty(), "{:?}", asked.borrow());
            }
            // A trailer byte changed: the checksum, or the seal, says so.
            let mut bad = good.clone();
            bad[footer_at - 5] ^= 1;
            let (mut read, _) = serve(&bad, 64 * 1024);
            assert!(read_toc(path, bad.len() as u64, keys, &mut read).is_err());
        }
    }

    /// Reads `bytes` as a pack every way there is, plain and sealed; only errors may
    /// come back.
    fn read_every_way(bytes: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pack");
        fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        let keys = test_keys();
        for keys in [None, Some(&*keys)] {
            let mut found = Vec::new();
            if let Ok((_, e)) = read_index(&path, keys) {
                found.extend(e);
            }
            if let Ok(e) = scan(&path, keys) {
                found.extend(e);
            }
            if let Ok(c) = contents(&path, keys) {
                found.extend(c.entries);
            }
            if let Ok(e) = read_toc(&path, bytes.len() as u64, keys, &mut serve(bytes, 64).0) {
                found.extend(e);
            }
            for e in found {
                let _ = read_raw(&f, &path, &e, keys);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            read_every_way(&bytes);
            for magic in [PACK_MAGIC, SEALED_PACK_MAGIC] {
                let mut with_magic = magic.to_vec();
                with_magic.extend_from_slice(&bytes);
                read_every_way(&with_magic);
            }
        }

        #[test]
        fn a_damaged_pack_never_panics(
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..8),
            cut in proptest::option::of(proptest::prelude::any::<usize>()),
            sealed in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = sample_pack(sealed);
            for (at, byte) in flips {
                let n = bytes.len();
                bytes[at % n] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            read_every_way(&bytes);
        }

        #[test]
        fn an_index_entry_of_any_value_never_panics(offset in proptest::prelude::any::<u64>(), raw_len in proptest::prelude::any::<u32>(), stored_len in proptest::prelude::any::<u32>(), codec in 0u8..2, sealed in proptest::prelude::any::<bool>()) {
            let bytes = sample_pack(sealed);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.pack");
            fs::write(&path, &bytes).unwrap();
            let f = File::open(&path).unwrap();
            let entry = BlobEntry {
                header: BlobHeader {
                    kind: BlobKind::Data,
                    codec: Codec::from_u8(codec).unwrap(),
                    raw_len,
                    stored_len,
                    hash: [0; 32],
                },
                offset,
            };
            let keys = sealed.then(test_keys);
            proptest::prop_assert!(read_raw(&f, &path, &entry, keys.as_deref()).is_err());
        }
    }

    #[test]
    fn a_truncated_pack_loses_its_trailer_but_scans() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_pack(dir.path(), &[b"aaaa", b"bbbb"]);
        let path = pack_path(dir.path(), &p.id);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 10).unwrap();
        assert!(matches!(
            read_index(&path, None),
            Err(PackError::Damaged { .. })
        ));
        assert_eq!(scan(&path, None).unwrap(), p.entries);
    }
}
