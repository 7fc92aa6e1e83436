//! RSA signature verification (RS256/384/512, PS256/384/512) for public keys, built for wasm32.
//!
//! Why not the `rsa` crate here: its big integers use 64-bit digits (or allocate per step), and
//! wasm32 emulates 64×64→128-bit products, so one RS256 check costs ~1 ms in V8. This module does
//! the public operation `s^e mod n` with Montgomery multiplication on 28-bit limbs (a 28×28-bit
//! product is one native `i64.mul`, and columns of them sum in a `u64` with no carry), with four
//! buffers allocated once per verification.
//! Everything here handles public data only, so nothing needs to be constant-time.
//!
//! Padding is checked by construction, never by parsing: PKCS#1 v1.5 builds the one expected
//! encoded message and compares it in full (RFC 8017 9.2); PSS follows RFC 8017 9.1.2 step by step.
//! The `rsa` crate stays the reference in tests (tests/differential.rs).

use alloc::vec;
use alloc::vec::Vec;
use sha2::digest::{Digest, FixedOutputReset};

/// A validated RSA public key, with its Montgomery constants computed once at parse time.
#[derive(Debug, Clone)]
pub struct RsaKey {
    /// Modulus, 28-bit limbs, least significant first, a multiple of four of them.
    n: Vec<u32>,
    /// `-n^-1 mod 2^112`: one block of Montgomery multipliers.
    ninv: u128,
    /// `R^2 mod n` with `R = 2^(28 * limbs)`: turns a value into Montgomery form.
    rr: Vec<u32>,
    /// Public exponent (odd, at least 3).
    e: u32,
    /// Modulus length in bytes (the signature length) and in bits.
    len: usize,
    bits: usize,
}

/// Bits per limb. Why 28, not 32: a limb product is below 2^56, so a `u64` column sums every
/// product a Montgomery multiplication puts in it (at most `2k + 1`, 153 for 2048 bits) without a
/// carry, and the inner loop is a multiply and an add per product, with no carry chain. At 32 bits
/// each product had to carry into the next (`v = t + x·y + c; c = v >> 32`): twice the work per
/// product in V8 and Wasmtime, for 1.41× fewer products (bench/NOTES.md, "RSA: 28-bit limbs").
const BITS: u32 = 28;
const MASK: u32 = (1 << BITS) - 1;
/// Limbs per pass of [`mac_4rows`] and per Montgomery block: the limb count is a multiple of it.
const ROWS: usize = 4;
/// Products (each below 2^56) a `u64` column can hold with room for a carry: the column budget.
/// Up to 3,472-bit moduli no column needs more (at most `2k + 1`); above, [`normalize`] carries
/// the columns into 28-bit limbs (a normalized column counts as one) before a pass would exceed it.
const BUDGET: u32 = 255;
/// `2^(BITS·ROWS) - 1`: one block of the Montgomery reduction.
const BLOCK_MASK: u128 = (1 << (BITS as usize * ROWS)) - 1;

/// Limbs (least significant first) of a big-endian byte string; `limbs` must hold it.
fn limbs_from_be(bytes: &[u8], limbs: usize) -> Vec<u32> {
    let mut out = vec![0u32; limbs];
    let (mut acc, mut nbits, mut j) = (0u64, 0u32, 0usize);
    for &b in bytes.iter().rev() {
        acc |= u64::from(b) << nbits;
        nbits += 8;
        if nbits >= BITS {
            if let Some(l) = out.get_mut(j) {
                *l = acc as u32 & MASK;
            }
            acc >>= BITS;
            nbits -= BITS;
            j += 1;
        }
    }
    if let Some(l) = out.get_mut(j) {
        *l = acc as u32;
    }
    out
}

/// The low `len` bytes of a limb number, big-endian.
fn to_be(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    super::limbs_to_be(limbs, BITS, &mut out);
    out
}

/// `a >= b`, both of the same length.
fn geq(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x > y;
        }
    }
    true
}

/// `a -= b` (same length, limbs below 2^28), dropping the borrow out of the top.
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u32;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = x.wrapping_sub(y).wrapping_sub(borrow);
        *x = d & MASK;
        borrow = d >> 31;
    }
}

/// `a = 2a mod n` for `a < n`.
fn double_mod(a: &mut [u32], n: &[u32]) {
    let mut carry = 0u32;
    for x in a.iter_mut() {
        let v = (*x << 1) | carry;
        *x = v & MASK;
        carry = v >> BITS;
    }
    if carry == 1 || geq(a, n) {
        sub_in_place(a, n);
    }
}

/// Column sums `t[..k + 3]` += `x·(y0 + y1·2^28 + y2·2^56 + y3·2^84)` for `x` of `k` limbs: four
/// schoolbook rows in one pass, row `r` lagging `r` limbs, no carry anywhere (the caller keeps
/// every column below 2^64). Each `x[j]` is loaded once for its four products and each column
/// loaded and stored once per four. A `t` shorter than `k + 3` adds nothing (never passed).
fn mac_4rows(t: &mut [u64], x: &[u32], y: [u32; ROWS]) {
    let [y0, y1, y2, y3] = y.map(u64::from);
    let (mut p1, mut p2, mut p3) = (0u64, 0u64, 0u64);
    let Some((low, tail)) = t.split_at_mut_checked(x.len()) else { return };
    let [t0, t1, t2, ..] = tail else { return };
    for (tj, &xj) in low.iter_mut().zip(x) {
        let xj = u64::from(xj);
        *tj += xj * y0 + p1 * y1 + p2 * y2 + p3 * y3;
        (p3, p2, p1) = (p2, p1, xj);
    }
    *t0 += p1 * y1 + p2 * y2 + p3 * y3;
    *t1 += p1 * y2 + p2 * y3;
    *t2 += p1 * y3;
}

/// Carries the column sums `t` into 28-bit limbs from `carry` up, returning the carry out of the
/// top column. No overflow: every column is within [`BUDGET`] and a carry below 2^37.
fn normalize(t: &mut [u64], carry: u64) -> u64 {
    let mut c = carry;
    for col in t.iter_mut() {
        let v = *col + c;
        *col = v & u64::from(MASK);
        c = v >> BITS;
    }
    c
}

/// `ROWS` consecutive limbs of `a` from `i` (zeros past the end).
fn block(a: &[u32], i: usize) -> [u32; ROWS] {
    core::array::from_fn(|r| a.get(i + r).copied().unwrap_or(0))
}

/// Montgomery reduction of the column sums `t` (`2k` columns, `k` a multiple of [`ROWS`]; the
/// value `< n·R`): `out = t / R mod n` with
/// `R = 2^(28k)`, fully reduced. Block `i` adds `m·n·2^(28i)` with the 112-bit
/// `m = (t[i..i + 4] + carry)·(-n^-1) mod 2^112`, which clears the block; its carry, exact because
/// the block's low bits cancel, moves to the next block.
/// `load` bounds the products any column holds (see [`BUDGET`]).
fn mont_reduce(out: &mut [u32], t: &mut [u64], n: &[u32], ninv: u128, mut load: u32) {
    let k = n.len();
    let (mut carry, mut overflow) = (0u64, 0u64);
    for i in (0..k).step_by(ROWS) {
        if load + ROWS as u32 > BUDGET {
            let Some(cols) = t.get_mut(i..) else { return };
            overflow += normalize(cols, carry);
            (carry, load) = (0, 1);
        }
        load += ROWS as u32;
        let Some(cols) = t.get(i..i + ROWS) else { return };
        let low = cols.iter().rev().fold(0u128, |acc, &c| (acc << BITS).wrapping_add(u128::from(c)));
        let m = low.wrapping_add(u128::from(carry)).wrapping_mul(ninv) & BLOCK_MASK;
        let Some(pass) = t.get_mut(i..i + k + 3) else { return };
        mac_4rows(pass, n, core::array::from_fn(|r| (m >> (BITS as usize * r)) as u32 & MASK));
        carry = pass.iter().take(ROWS).fold(carry, |c, &col| (col + c) >> BITS);
    }
    let mut c = carry;
    for (o, &col) in out.iter_mut().zip(t.iter().skip(k)) {
        let v = col + c;
        *o = v as u32 & MASK;
        c = v >> BITS;
    }
    c += overflow;
    // The value is below 2n: at most one subtraction, which also cancels a carry out of the top.
    if c != 0 || geq(out, n) {
        sub_in_place(out, n);
    }
}

/// Montgomery product `out = a·b / R mod n` for `a, b < n`; `t` is scratch of `2k` columns.
fn mont_mul(out: &mut [u32], a: &[u32], b: &[u32], n: &[u32], ninv: u128, t: &mut [u64]) {
    let k = n.len();
    t.iter_mut().for_each(|x| *x = 0);
    let mut load = 0u32;
    for i in (0..k).step_by(ROWS) {
        if load + ROWS as u32 > BUDGET {
            normalize(t, 0);
            load = 1;
        }
        load += ROWS as u32;
        let Some(pass) = t.get_mut(i..i + k + 3) else { return };
        mac_4rows(pass, a, block(b, i));
    }
    mont_reduce(out, t, n, ninv, load);
}

/// Montgomery square `out = a² / R mod n`: each cross product `a_i·a_j` (i < j) once, the column
/// sums doubled, plus the squares on the diagonal: about half the products of [`mont_mul`].
fn mont_sqr(out: &mut [u32], a: &[u32], n: &[u32], ninv: u128, t: &mut [u64]) {
    let k = n.len();
    t.iter_mut().for_each(|x| *x = 0);
    // Rows i..i + 4 together: the six cross products inside the block, then the four rows over
    // a[i + 4..] in one pass: at most six products per column per block, and room is left for
    // the doubling.
    let mut load = 0u32;
    for i in (0..k).step_by(ROWS) {
        if load + 6 > BUDGET / 2 {
            normalize(t, 0);
            load = 1;
        }
        load += 6;
        let y = block(a, i);
        let [a0, a1, a2, a3] = y.map(u64::from);
        let Some(cols) = t.get_mut(2 * i + 1..2 * i + 6) else { return };
        for (col, p) in cols.iter_mut().zip([a0 * a1, a0 * a2, a0 * a3 + a1 * a2, a1 * a3, a2 * a3]) {
            *col += p;
        }
        let (Some(rest), Some(pass)) = (a.get(i + ROWS..), t.get_mut(2 * i + ROWS..i + k + 3)) else { return };
        mac_4rows(pass, rest, y);
    }
    // Column c holds at most c/2 < k/2 + 1 cross products since the last normalization.
    load = load.min(k.div_ceil(2) as u32 + 1);
    if 2 * load + 1 > BUDGET {
        normalize(t, 0);
        load = 1;
    }
    for (pair, &ai) in t.chunks_exact_mut(2).zip(a) {
        if let [lo, hi] = pair {
            *lo = 2 * *lo + u64::from(ai) * u64::from(ai);
            *hi *= 2;
        }
    }
    mont_reduce(out, t, n, ninv, 2 * load + 1);
}

impl RsaKey {
    /// Builds the key from the big-endian modulus (no leading zero octets) and exponent. The
    /// caller has checked size and parity (src/jwk.rs); `None` if the modulus is even or empty.
    pub fn new(n_be: &[u8], e: u32) -> Option<RsaKey> {
        let top = *n_be.first()?;
        // No leading zero octet (the caller strips them) and n >= 3: `bits` is exact and >= 2.
        if top == 0 || (n_be.len() == 1 && top < 3) {
            return None;
        }
        let bits = (n_be.len() - 1) * 8 + (8 - top.leading_zeros() as usize);
        // Whole blocks of four limbs: R = 2^(28k) > n.
        let k = bits.div_ceil(BITS as usize * ROWS) * ROWS;
        let n = limbs_from_be(n_be, k);
        if n.first()? & 1 == 0 || e < 3 || e & 1 == 0 {
            return None;
        }
        // n^-1 mod 2^128 by Newton's iteration from 1 (right to one bit, n being odd; each step
        // doubles the correct low bits), negated and cut to one block.
        let n_low = block(&n, 0).iter().rev().fold(0u128, |acc, &l| (acc << BITS) | u128::from(l));
        let mut inv = 1u128;
        for _ in 0..7 {
            inv = inv.wrapping_mul(2u128.wrapping_sub(n_low.wrapping_mul(inv)));
        }
        let ninv = inv.wrapping_neg() & BLOCK_MASK;
        // R^2 mod n: start from 2^(bits-1) < n and double up to 2^(28k + 7k/4); four Montgomery
        // squarings (each takes 2^(28k + x) to 2^(28k + 2x)) make the excess 16·7k/4 = 28k: R^2.
        let mut x = vec![0u32; k];
        if let Some(l) = x.get_mut((bits - 1) / BITS as usize) {
            *l = 1 << ((bits - 1) % BITS as usize);
        }
        for _ in (bits - 1)..(BITS as usize * k + 7 * k / 4) {
            double_mod(&mut x, &n);
        }
        let mut t = vec![0u64; 2 * k];
        let mut y = vec![0u32; k];
        for _ in 0..4 {
            mont_sqr(&mut y, &x, &n, ninv, &mut t);
            x.copy_from_slice(&y);
        }
        Some(RsaKey { n, ninv, rr: x, e, len: n_be.len(), bits })
    }

    /// Modulus length in bytes: the only valid signature length.
    pub fn size(&self) -> usize {
        self.len
    }

    /// RSAVP1 (RFC 8017 5.2.2): `s^e mod n` as `size()` big-endian bytes. `None` if `sig` is not
    /// exactly `size()` bytes or is not below `n`.
    pub fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.len {
            return None;
        }
        let k = self.n.len();
        let s = limbs_from_be(sig, k);
        if geq(&s, &self.n) {
            return None;
        }
        let mut t = vec![0u64; 2 * k];
        let mut sm = vec![0u32; k];
        let mut acc = vec![0u32; k];
        // sm = s·R (Montgomery form); left-to-right square-and-multiply over the bits of e below
        // the top one. The last bit of e is 1 (e is odd): multiplying the Montgomery-form
        // accumulator by plain `s` leaves the result out of Montgomery form, saving a conversion.
        mont_mul(&mut sm, &s, &self.rr, &self.n, self.ninv, &mut t);
        let mut tmp = sm.clone();
        for bit in (1..31 - self.e.leading_zeros()).rev() {
            mont_sqr(&mut acc, &tmp, &self.n, self.ninv, &mut t);
            if (self.e >> bit) & 1 == 1 {
                mont_mul(&mut tmp, &acc, &sm, &self.n, self.ninv, &mut t);
            } else {
                tmp.copy_from_slice(&acc);
            }
        }
        mont_sqr(&mut acc, &tmp, &self.n, self.ninv, &mut t);
        mont_mul(&mut tmp, &acc, &s, &self.n, self.ninv, &mut t);
        Some(to_be(&tmp, self.len))
    }

    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 8.2.2) of a precomputed digest: builds
    /// `0x00 0x01 FF.. 0x00 || DigestInfo prefix || hash` and compares the whole block.
    pub fn verify_pkcs1v15(&self, prefix: &[u8], hash: &[u8], sig: &[u8]) -> bool {
        let Some(em) = self.public_op(sig) else { return false };
        let t_len = prefix.len() + hash.len();
        // RFC 8017 9.2 step 3: at least 8 octets of 0xff.
        if self.len < t_len + 11 {
            return false;
        }
        let ps = self.len - t_len - 3;
        let expected = [&[0u8, 1][..], &vec![0xffu8; ps], &[0], prefix, hash].concat();
        em == expected
    }

    /// RSASSA-PSS verification (RFC 8017 8.1.2 and EMSA-PSS-VERIFY, 9.1.2) with MGF1 over the same
    /// hash `D` and a salt exactly as long as the hash (RFC 7518 3.5).
    pub fn verify_pss<D: Digest + FixedOutputReset>(&self, m_hash: &[u8], sig: &[u8]) -> bool {
        let Some(out) = self.public_op(sig) else { return false };
        let h_len = <D as Digest>::output_size();
        let s_len = h_len;
        if m_hash.len() != h_len {
            return false;
        }
        // 8.1.2 step 2c: EM = I2OSP(m, emLen) with emBits = modBits - 1.
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        let Some((lead, em)) = out.split_at_checked(self.len - em_len) else { return false };
        if lead.iter().any(|&b| b != 0) {
            return false;
        }
        // 9.1.2 steps 3, 4.
        if em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
            return false;
        }
        // Step 5: maskedDB || H || 0xbc.
        let Some((masked_db, rest)) = em.split_at_checked(em_len - h_len - 1) else { return false };
        let Some(h) = rest.get(..h_len) else { return false };
        // Step 6: the 8·emLen - emBits leftmost bits of maskedDB must be zero.
        let top_mask = 0xffu8 >> (8 * em_len - em_bits);
        if masked_db.first().is_some_and(|&b| b & !top_mask != 0) {
            return false;
        }
        // Steps 7-9: DB = maskedDB xor MGF1(H, emLen - hLen - 1), top bits cleared.
        let mut db = masked_db.to_vec();
        let mut hasher = D::new();
        for (counter, chunk) in db.chunks_mut(h_len).enumerate() {
            Digest::update(&mut hasher, h);
            Digest::update(&mut hasher, (counter as u32).to_be_bytes());
            let mask = hasher.finalize_reset();
            chunk.iter_mut().zip(mask.iter()).for_each(|(d, m)| *d ^= m);
        }
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        // Step 10: DB = PS (zeros) || 0x01 || salt.
        let ps_len = em_len - h_len - s_len - 2;
        let Some((ps, rest)) = db.split_at_checked(ps_len) else { return false };
        let Some((&one, salt)) = rest.split_first() else { return false };
        if ps.iter().any(|&b| b != 0) || one != 1 {
            return false;
        }
        // Steps 12-14: H' = Hash(0x00 × 8 || mHash || salt) must equal H.
        Digest::update(&mut hasher, [0u8; 8]);
        Digest::update(&mut hasher, m_hash);
        Digest::update(&mut hasher, salt);
        hasher.finalize_reset()[..] == *h
    }
}

/// Montgomery multiplication (`square` false: `a·b`) or squaring (`a²`) mod the odd `n_be`
/// (big-endian, no leading zero octet), times `R^-1`, as `n_be.len()` big-endian bytes, with the
/// exponent of `R` (a power of two: 28 bits per limb, whole blocks of four limbs); `a` and `b`
/// are big-endian, at most `n_be.len()` bytes, and must be below `n`. `None` when `n` is not a
/// modulus [`RsaKey::new`] takes. For the field-level differential fuzz target
/// (fuzz/fuzz_targets/field_differential.rs), which checks it against a bignum.
#[doc(hidden)]
pub fn mont_op(n_be: &[u8], a_be: &[u8], b_be: &[u8], square: bool) -> Option<(Vec<u8>, usize)> {
    let key = RsaKey::new(n_be, 3)?;
    let k = key.n.len();
    if a_be.len() > key.len || b_be.len() > key.len {
        return None;
    }
    let (a, b) = (limbs_from_be(a_be, k), limbs_from_be(b_be, k));
    let mut t = vec![0u64; 2 * k];
    let mut out = vec![0u32; k];
    if square {
        mont_sqr(&mut out, &a, &key.n, key.ninv, &mut t);
    } else {
        mont_mul(&mut out, &a, &b, &key.n, key.ninv, &mut t);
    }
    Some((to_be(&out, key.len), BITS as usize * k))
}
