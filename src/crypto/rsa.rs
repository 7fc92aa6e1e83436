//! RSA signature verification (RS256/384/512, PS256/384/512) for public keys, built for wasm32.
//!
//! Why not the `rsa` crate here: its big integers use 64-bit digits (or allocate per step), and
//! wasm32 emulates 64×64→128-bit products, so one RS256 check costs ~1 ms in V8. This module does
//! the public operation `s^e mod n` with Montgomery multiplication on 32-bit limbs (a 32×32→64
//! product is one native wasm instruction), with three buffers allocated once per verification.
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
    /// Modulus, 32-bit limbs, least significant first.
    n: Vec<u32>,
    /// `-n^-1 mod 2^32`.
    n0inv: u32,
    /// `R^2 mod n` with `R = 2^(32 * limbs)`: turns a value into Montgomery form.
    rr: Vec<u32>,
    /// Public exponent (odd, at least 3).
    e: u32,
    /// Modulus length in bytes (the signature length) and in bits.
    len: usize,
    bits: usize,
}

/// Limbs (least significant first) of a big-endian byte string.
fn limbs_from_be(bytes: &[u8], limbs: usize) -> Vec<u32> {
    let mut out = vec![0u32; limbs];
    for (i, &b) in bytes.iter().rev().enumerate() {
        if let Some(l) = out.get_mut(i / 4) {
            *l |= u32::from(b) << (8 * (i % 4));
        }
    }
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

/// `a -= b` (same length), returning the borrow.
fn sub_in_place(a: &mut [u32], b: &[u32]) -> u32 {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
    borrow as u32
}

/// `a = 2a mod n` for `a < n`.
fn double_mod(a: &mut [u32], n: &[u32]) {
    let mut carry = 0u32;
    for x in a.iter_mut() {
        let top = *x >> 31;
        *x = (*x << 1) | carry;
        carry = top;
    }
    if carry == 1 || geq(a, n) {
        sub_in_place(a, n);
    }
}

/// `t[..k]` += `x * y` (one schoolbook row), returning the carry out of limb `k - 1`.
fn mul_add_row(t: &mut [u32], x: &[u32], y: u32) -> u32 {
    let y = u64::from(y);
    let mut c = 0u64;
    for (tj, &xj) in t.iter_mut().zip(x) {
        let v = u64::from(*tj) + u64::from(xj) * y + c;
        *tj = v as u32;
        c = v >> 32;
    }
    c as u32
}

/// `t[..=k]` += `x·y0 + x·y1·2^32` (two schoolbook rows at once, `x` of `k` limbs), returning the
/// carry into limb `k + 1`; `c0` enters row 0's carry at limb 0 and `top_in` is added at limb `k`
/// (carries of earlier rows). Why two rows: each `t[j]` and `x[j]` is loaded and `t[j]` stored
/// once for two products instead of one, and the two carry chains overlap. In V8 and Wasmtime
/// that took a fifth off RS256 (bench/NOTES.md, "RSA: two rows per pass"). Every intermediate
/// fits a `u64`: `(2^32-1) + (2^32-1)^2 + (2^32-1) = 2^64-1`.
fn mul_add_2rows(t: &mut [u32], x: &[u32], y0: u32, y1: u32, c0: u64, top_in: u64) -> u64 {
    let (y0, y1) = (u64::from(y0), u64::from(y1));
    let (mut c0, mut c1, mut prev) = (c0, 0u64, 0u64);
    let Some((top, low)) = t.split_last_mut() else { return 0 };
    for (tj, &xj) in low.iter_mut().zip(x) {
        let xj = u64::from(xj);
        let v0 = u64::from(*tj) + xj * y0 + c0;
        c0 = v0 >> 32;
        let v1 = (v0 & 0xffff_ffff) + prev * y1 + c1;
        c1 = v1 >> 32;
        *tj = v1 as u32;
        prev = xj;
    }
    let v0 = u64::from(*top) + c0 + top_in;
    let v1 = (v0 & 0xffff_ffff) + prev * y1 + c1;
    *top = v1 as u32;
    (v0 >> 32) + (v1 >> 32)
}

/// Montgomery reduction of the double-width `t` (`2k` limbs, `< n·R`): `out = t / R mod n`, fully
/// reduced. Row `i` adds `m_i·n·2^(32i)` with `m_i` chosen to clear limb `i`, two rows per pass:
/// `m_{i+1}` is computed ahead from limb `i + 1` as row `i` will leave it. The carry out of each
/// pass lands one limb higher than the next pass's top, so it waits in `pending`.
fn mont_reduce(out: &mut [u32], t: &mut [u32], n: &[u32], n0inv: u32) {
    let k = n.len();
    let mut pending = 0u64;
    let n0 = u64::from(n.first().copied().unwrap_or(0));
    let n1 = u64::from(n.get(1).copied().unwrap_or(0));
    let mut i = 0;
    while i + 1 < k {
        let t0 = t.get(i).copied().unwrap_or(0);
        let t1 = u64::from(t.get(i + 1).copied().unwrap_or(0));
        let m0 = t0.wrapping_mul(n0inv);
        let h = (u64::from(t0) + u64::from(m0) * n0) >> 32;
        let m1 = ((t1 + u64::from(m0) * n1 + h) as u32).wrapping_mul(n0inv);
        let Some(row) = t.get_mut(i..=i + k + 1) else { return };
        let Some((top, low)) = row.split_last_mut() else { return };
        let c = mul_add_2rows(low, n, m0, m1, 0, pending);
        let v = u64::from(*top) + c;
        *top = v as u32;
        pending = v >> 32;
        i += 2;
    }
    for i in i..k {
        let Some(row) = t.get_mut(i..=i + k) else { return };
        let Some((top, low)) = row.split_last_mut() else { return };
        let m = low.first().copied().unwrap_or(0).wrapping_mul(n0inv);
        let c = mul_add_row(low, n, m);
        let v = u64::from(*top) + u64::from(c) + pending;
        *top = v as u32;
        pending = v >> 32;
    }
    let Some(high) = t.get_mut(k..) else { return };
    if pending != 0 || geq(high, n) {
        sub_in_place(high, n);
    }
    out.copy_from_slice(high);
}

/// Montgomery product `out = a·b / R mod n` for `a, b < n`; `t` is scratch of `2k` limbs.
/// Schoolbook product (two rows per pass), then reduction: tight loops over slices that the
/// engine compiles without bounds checks (CIOS interleaves them, but needs indexed access).
fn mont_mul(out: &mut [u32], a: &[u32], b: &[u32], n: &[u32], n0inv: u32, t: &mut [u32]) {
    let k = n.len();
    t.iter_mut().for_each(|x| *x = 0);
    let mut i = 0;
    while i + 1 < k {
        let (y0, y1) = (b.get(i).copied().unwrap_or(0), b.get(i + 1).copied().unwrap_or(0));
        let Some(row) = t.get_mut(i..=i + k + 1) else { return };
        let Some((top, low)) = row.split_last_mut() else { return };
        *top = mul_add_2rows(low, a, y0, y1, 0, 0) as u32;
        i += 2;
    }
    if i < k {
        let bi = b.get(i).copied().unwrap_or(0);
        let Some(row) = t.get_mut(i..=i + k) else { return };
        let Some((top, low)) = row.split_last_mut() else { return };
        *top = mul_add_row(low, a, bi);
    }
    mont_reduce(out, t, n, n0inv);
}

/// Montgomery square `out = a² / R mod n`: each cross product `a_i·a_j` (i < j) once, doubled,
/// plus the squares on the diagonal: about half the multiplications of [`mont_mul`].
fn mont_sqr(out: &mut [u32], a: &[u32], n: &[u32], n0inv: u32, t: &mut [u32]) {
    let k = n.len();
    t.iter_mut().for_each(|x| *x = 0);
    // Rows i and i + 1 together: row i's first product (a[i+1]·a[i]) alone, then both rows over
    // a[i + 2..], row i + 1 one limb behind as `mul_add_2rows` has it.
    let mut start = 0;
    while start + 2 < k {
        let i = start;
        let (ai, ai1) = (a.get(i).copied().unwrap_or(0), a.get(i + 1).copied().unwrap_or(0));
        let Some(first) = t.get_mut(2 * i + 1) else { return };
        let v = u64::from(*first) + u64::from(ai1) * u64::from(ai);
        *first = v as u32;
        let (Some(rest), Some(row)) = (a.get(i + 2..), t.get_mut(2 * i + 2..=i + k + 1)) else { return };
        let Some((top, low)) = row.split_last_mut() else { return };
        *top = mul_add_2rows(low, rest, ai, ai1, v >> 32, 0) as u32;
        start += 2;
    }
    for (i, &ai) in a.iter().enumerate().skip(start) {
        let (Some(rest), Some(row)) = (a.get(i + 1..), t.get_mut(2 * i + 1..=i + k)) else { return };
        let Some((top, low)) = row.split_last_mut() else { continue };
        *top = mul_add_row(low, rest, ai);
    }
    let mut carry = 0u32;
    for x in t.iter_mut() {
        let top = *x >> 31;
        *x = (*x << 1) | carry;
        carry = top;
    }
    let mut c = 0u64;
    for (pair, &ai) in t.chunks_exact_mut(2).zip(a) {
        let sq = u64::from(ai) * u64::from(ai);
        if let [lo, hi] = pair {
            let v = u64::from(*lo) + (sq & 0xffff_ffff) + c;
            *lo = v as u32;
            let v = u64::from(*hi) + (sq >> 32) + (v >> 32);
            *hi = v as u32;
            c = v >> 32;
        }
    }
    mont_reduce(out, t, n, n0inv);
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
        let k = n_be.len().div_ceil(4);
        let n = limbs_from_be(n_be, k);
        let n0 = *n.first()?;
        if n0 & 1 == 0 || e < 3 || e & 1 == 0 {
            return None;
        }
        // n0^-1 mod 2^32 by Newton's iteration (each step doubles the correct low bits).
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        }
        let n0inv = inv.wrapping_neg();
        // R^2 mod n: start from 2^(bits-1) < n, double up to 2^(32k) = R, then k more times to
        // 2^(32k + k); five Montgomery squarings double the excess each: 2^(32k + 32k) = R^2.
        let mut x = vec![0u32; k];
        if let Some(l) = x.get_mut((bits - 1) / 32) {
            *l = 1 << ((bits - 1) % 32);
        }
        for _ in (bits - 1)..(32 * k + k) {
            double_mod(&mut x, &n);
        }
        let mut t = vec![0u32; 2 * k];
        let mut y = vec![0u32; k];
        for _ in 0..5 {
            mont_sqr(&mut y, &x, &n, n0inv, &mut t);
            x.copy_from_slice(&y);
        }
        Some(RsaKey { n, n0inv, rr: x, e, len: n_be.len(), bits })
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
        let mut t = vec![0u32; 2 * k];
        let mut sm = vec![0u32; k];
        let mut acc = vec![0u32; k];
        // sm = s·R (Montgomery form); left-to-right square-and-multiply over the bits of e below
        // the top one. The last bit of e is 1 (e is odd): multiplying the Montgomery-form
        // accumulator by plain `s` leaves the result out of Montgomery form, saving a conversion.
        mont_mul(&mut sm, &s, &self.rr, &self.n, self.n0inv, &mut t);
        let mut tmp = sm.clone();
        for bit in (1..31 - self.e.leading_zeros()).rev() {
            mont_sqr(&mut acc, &tmp, &self.n, self.n0inv, &mut t);
            if (self.e >> bit) & 1 == 1 {
                mont_mul(&mut tmp, &acc, &sm, &self.n, self.n0inv, &mut t);
            } else {
                tmp.copy_from_slice(&acc);
            }
        }
        mont_sqr(&mut acc, &tmp, &self.n, self.n0inv, &mut t);
        mont_mul(&mut tmp, &acc, &s, &self.n, self.n0inv, &mut t);
        let acc = tmp;
        let mut out = vec![0u8; self.len];
        for (i, o) in out.iter_mut().rev().enumerate() {
            *o = (acc.get(i / 4).copied().unwrap_or(0) >> (8 * (i % 4))) as u8;
        }
        Some(out)
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
/// (big-endian, no leading zero octet), times `R^-1` with `R = 2^(32·limbs)`, as `n_be.len()`
/// big-endian bytes; `a` and `b` are big-endian, at most `n_be.len()` bytes, and must be below `n`.
/// `None` when `n` is not a modulus [`RsaKey::new`] takes. For the field-level differential fuzz
/// target (fuzz/fuzz_targets/field_differential.rs), which checks it against a bignum.
#[doc(hidden)]
pub fn mont_op(n_be: &[u8], a_be: &[u8], b_be: &[u8], square: bool) -> Option<Vec<u8>> {
    let key = RsaKey::new(n_be, 3)?;
    let k = key.n.len();
    if a_be.len() > key.len || b_be.len() > key.len {
        return None;
    }
    let (a, b) = (limbs_from_be(a_be, k), limbs_from_be(b_be, k));
    let mut t = vec![0u32; 2 * k];
    let mut out = vec![0u32; k];
    if square {
        mont_sqr(&mut out, &a, &key.n, key.n0inv, &mut t);
    } else {
        mont_mul(&mut out, &a, &b, &key.n, key.n0inv, &mut t);
    }
    let mut be = vec![0u8; key.len];
    for (i, o) in be.iter_mut().rev().enumerate() {
        *o = (out.get(i / 4).copied().unwrap_or(0) >> (8 * (i % 4))) as u8;
    }
    Some(be)
}
