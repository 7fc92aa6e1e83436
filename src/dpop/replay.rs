//! The DPoP `jti` replay store's layout in host shared data, shared by every worker of the host.
//!
//! Host shared data offers get and compare-and-swap set, but no "insert if absent", so a store
//! keyed by `jti` alone could let two workers accept the same proof at once. Instead the store is
//! a fixed number of buckets, each one shared-data value holding fixed-size entries; a worker
//! reads a bucket, checks and appends, and writes it back with the version it read. A concurrent
//! writer makes that write fail, and the worker retries on the fresh value: exactly one wins
//! (the protocol is [`crate::gateway::shared::SharedReplay`]). One bucket per proof, picked by its digest:
//! one get and one set per proof, and no second bucket whose check could race with the first.
//!
//! # Sizing
//! A proof's entry lives until `iat + dpop_max_age_seconds + clock_skew_seconds`
//! ([`crate::dpop::Proof::replay_expiry`]): 120 s with the defaults for a client whose clock is
//! right, up to 180 s for one a full skew ahead (`iat` may be `clock_skew_seconds` in the future).
//! At `r` fresh proofs per second the store holds about `r × 121` live entries. The defaults stay
//! (a DPoP-specific skew would shorten the window, but is a configuration change of its own): the
//! store is sized for them.
//!
//! - **Capacity.** [`BUCKETS`] × [`BUCKET_CAPACITY`] = 32 768 × 256 slots. A bucket's load is
//!   Poisson-distributed: at 20 000 proofs/s (2.4 M live entries, 73 per bucket on average) the
//!   expected number of proofs refused for a full bucket in 10 minutes is below 10⁻⁵⁰; it reaches
//!   0.01 near 46 000/s (near 30 500/s if every client ran a full skew ahead).
//!   `tests/replay_load.rs` runs 12 M proofs at 20 000/s.
//! - **Memory.** Shared-data values are as long as their live entries, so memory follows the load,
//!   not the capacity: [`ENTRY_LEN`] = 10 bytes per live entry, **1 210 bytes of shared data per
//!   proof/s** with the defaults (1 810 if every client ran a full skew ahead), plus a
//!   [`HEADER_LEN`]-byte header and a 25-byte key per bucket (1.7 MB). Measured (the test above):
//!   a peak of 26.2 MB at 20 000/s, 38.2 MB with every client a full skew ahead. Hosts add their
//!   own overhead: Envoy about 120 bytes per value (3.9 MiB more RSS for the empty store); Kong's
//!   engine puts each value in a slab block of a power of two (see `tests/common/mod.rs`), about
//!   1 800 bytes per proof/s (3 300 a full skew ahead) and 8 MiB for the empty store.
//!   Entries are dropped when their bucket is next written, with no background sweep: a bucket
//!   never holds more than it did at its last write, so the peak follows the peak load.
//! - **Cost per proof.** One get and one set; the bucket is copied into the VM on the get and out
//!   of it on the set: about 760 bytes each way at 20 000/s, at most 2.5 KiB.
//! - **Start.** [`BUCKETS`] values are created when a root context is configured (32 768 gets and
//!   sets for the first one, gets for the others): 190 ms of CPU for an Envoy 1.40 with one worker
//!   (two root contexts), measured.
//!
//! # Entries and their digests
//! An entry is 8 bytes of SHA-256(location secret ‖ replay key) and the expiry. The bucket index
//! is 15 more bits of the same digest, so a fresh proof is refused as a replay by mistake only if
//! its 79 bits equal a live entry's: with at most 2.4 M live entries, the probability over
//! 12 M proofs (10 minutes at 20 000/s) is 12 M × 2.4 M / 2⁷⁹ ≈ 5 × 10⁻¹¹. The location secret
//! (random, made by the first worker, kept in every bucket's header) keeps clients from choosing
//! `jti` values that all land in one bucket: without it, one client with a bound token could fill
//! chosen buckets with 256 proofs each and have a share of everyone else's proofs refused.
//!
//! # Failing closed
//! A bucket full of live entries refuses the proof ([`ProofError::ReplayStoreUnavailable`]): the
//! store cannot prove the proof is fresh. So does a value that is not a bucket of this layout (in
//! Kong's engine two keys with the same CRC32 share one value), a bucket made with another
//! secret, and a quarantined bucket (one found missing: Kong's default `slru` zones evict values
//! when full, and an evicted bucket's entries are lost; see [`empty`]).

use alloc::vec::Vec;
use sha2::{Digest, Sha256};

use crate::error::ProofError;

/// Number of buckets (see the module documentation for the sizing).
pub const BUCKETS: usize = 32_768;
/// Live entries one bucket holds.
pub const BUCKET_CAPACITY: usize = 256;
/// Bytes of digest per entry.
pub const ID_LEN: usize = 8;
/// Bytes per entry: the digest and the expiry, in seconds after the bucket's base time (2 bytes,
/// big-endian: an entry expires at most [`MAX_WINDOW`] after it is written).
pub const ENTRY_LEN: usize = ID_LEN + 2;
/// Bytes of the location secret.
pub const SECRET_LEN: usize = 16;
/// Bytes before the entries: a tag naming the layout and the bucket (4), the location secret (16),
/// the end of a quarantine (4) and the base time of the expiries (4), integers big-endian.
pub const HEADER_LEN: usize = 4 + SECRET_LEN + 4 + 4;
/// The longest an entry can live after it is recorded: `dpop_max_age_seconds` and
/// `clock_skew_seconds` are at most 3600 each (`src/config.rs`), and `iat` may be one skew in the
/// future, so `iat + max_age + skew` is at most `now + 3600 + 2 × 3600`. A quarantined bucket
/// refuses proofs this long, whatever the configuration of the route that lost its entries.
pub const MAX_WINDOW: u64 = 3 * 3600;

/// The layout tag's first two bytes; the last two are the bucket's index.
const TAG: [u8; 2] = *b"R3";

/// The location secret all workers of a host share: which bucket a replay key goes to and the
/// digest it is stored under.
#[derive(Clone, PartialEq, Eq)]
pub struct Locator {
    secret: [u8; SECRET_LEN],
}

/// The secret stays out of logs.
impl core::fmt::Debug for Locator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Locator { .. }")
    }
}

impl Locator {
    /// The locator for `secret`.
    pub fn new(secret: [u8; SECRET_LEN]) -> Locator {
        Locator { secret }
    }

    /// The secret, as stored in bucket headers.
    pub fn secret(&self) -> &[u8; SECRET_LEN] {
        &self.secret
    }

    /// Where a replay key lives: its bucket index and its digest.
    pub fn locate(&self, replay_key: &str) -> (usize, [u8; ID_LEN]) {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(replay_key.as_bytes());
        let digest: [u8; 32] = h.finalize().into();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        (usize::from(u16::from_be_bytes([digest[ID_LEN], digest[ID_LEN + 1]])) % BUCKETS, id)
    }
}

/// A bucket holding no entries, for bucket `index`: refusing every proof until `quarantine_until`
/// (inclusive; 0 for none). A bucket found missing is recreated quarantined for [`MAX_WINDOW`],
/// so a replay of a proof whose entry was lost is refused for as long as it could be accepted.
pub fn empty(index: usize, secret: &[u8; SECRET_LEN], quarantine_until: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN);
    push_header(&mut v, index, secret, clamp(quarantine_until), 0);
    v
}

/// The location secret in `value`, if it is a bucket of this layout for bucket `index`.
pub fn secret_of(value: &[u8], index: usize) -> Option<[u8; SECRET_LEN]> {
    parse(value, index).map(|b| b.secret)
}

/// A bucket's fields, borrowed from its value.
struct Parsed<'a> {
    secret: [u8; SECRET_LEN],
    quarantine_until: u64,
    base: u64,
    entries: &'a [u8],
}

fn parse(value: &[u8], index: usize) -> Option<Parsed<'_>> {
    let (header, entries) = value.split_at_checked(HEADER_LEN)?;
    let (tag, rest) = header.split_at(4);
    let (secret, rest) = rest.split_at(SECRET_LEN);
    let (quarantine, base) = rest.split_at(4);
    let index = u16::try_from(index).ok()?.to_be_bytes();
    // `tag` is 4 bytes: the layout's 2, then the index's 2.
    if !tag.starts_with(&TAG) || !tag.ends_with(&index) || entries.len() % ENTRY_LEN != 0 {
        return None;
    }
    Some(Parsed {
        secret: secret.try_into().ok()?,
        quarantine_until: u64::from(u32::from_be_bytes(quarantine.try_into().ok()?)),
        base: u64::from(u32::from_be_bytes(base.try_into().ok()?)),
        entries,
    })
}

fn push_header(v: &mut Vec<u8>, index: usize, secret: &[u8; SECRET_LEN], quarantine_until: u32, base: u32) {
    v.extend_from_slice(&TAG);
    // `index < BUCKETS <= 65 536`; a larger one would make a tag no bucket parses: fail closed.
    v.extend_from_slice(&u16::try_from(index).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(secret);
    v.extend_from_slice(&quarantine_until.to_be_bytes());
    v.extend_from_slice(&base.to_be_bytes());
}

/// Seconds as the 4-byte field (until 2106); later times saturate.
fn clamp(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

/// Checks `id` against bucket `index`'s current value and returns the value to write back: live
/// entries kept, expired ones (expiry before `now`) dropped, `id` appended, expiries re-based on
/// `now`. [`ProofError::Replay`] if `id` is live in it; [`ProofError::ReplayStoreUnavailable`] if
/// it cannot be recorded: the value is not this bucket made with `secret`, the bucket is
/// quarantined or full, or `expires_at` is not within [`u16::MAX`] seconds from `now`.
pub fn insert(
    value: &[u8],
    index: usize,
    secret: &[u8; SECRET_LEN],
    id: &[u8; ID_LEN],
    expires_at: u64,
    now: u64,
) -> Result<Vec<u8>, ProofError> {
    let bucket = parse(value, index).filter(|b| b.secret == *secret).ok_or(ProofError::ReplayStoreUnavailable)?;
    if bucket.quarantine_until >= now {
        return Err(ProofError::ReplayStoreUnavailable);
    }
    let offset = |exp: u64| exp.checked_sub(now).and_then(|d| u16::try_from(d).ok());
    let new_offset = offset(expires_at).ok_or(ProofError::ReplayStoreUnavailable)?;
    let mut out = Vec::with_capacity(value.len() + ENTRY_LEN);
    push_header(&mut out, index, secret, 0, clamp(now));
    for e in bucket.entries.chunks_exact(ENTRY_LEN) {
        // Always ID_LEN + 2 bytes (`chunks_exact`); anything else would refuse, never drop an entry.
        let Some((eid, exp)) = e.split_last_chunk::<2>() else {
            return Err(ProofError::ReplayStoreUnavailable);
        };
        let exp = bucket.base + u64::from(u16::from_be_bytes(*exp));
        if exp < now {
            continue;
        }
        if eid == id {
            return Err(ProofError::Replay);
        }
        // Only a clock gone back by more than 15 hours since the last write could fail this.
        let kept = offset(exp).ok_or(ProofError::ReplayStoreUnavailable)?;
        out.extend_from_slice(eid);
        out.extend_from_slice(&kept.to_be_bytes());
    }
    if (out.len() - HEADER_LEN) / ENTRY_LEN >= BUCKET_CAPACITY {
        return Err(ProofError::ReplayStoreUnavailable);
    }
    out.extend_from_slice(id);
    out.extend_from_slice(&new_offset.to_be_bytes());
    Ok(out)
}
