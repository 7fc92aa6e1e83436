//! The field and point arithmetic that P-256 ([`super::p256`]) and P-384 ([`super::p384`])
//! share, written once. [`weierstrass_arithmetic!`] expands it inside each curve's module, where it
//! reads that module's `LIMBS`, `BITS`, `MASK`, `Limbs`, `P`, `N` and `B`, and takes the curve's size in
//! bytes: each expansion is plain code over fixed-size arrays and compile-time constants, as if
//! written out by hand, so the compiler unrolls it for each limb count (the fully unrolled
//! Montgomery product is why P-256's ES256 is fast in wasm32). Both curves are short Weierstrass
//! curves with a = -3, odd prime order and Montgomery-friendly odd moduli, so every formula here
//! holds for both; tests/differential.rs holds each against its RustCrypto crate.

/// Expands the shared arithmetic (see the module documentation) for a curve of `$bytes` bytes, with
/// the forms of the point formulas' field product that `$forms` names (below).
macro_rules! weierstrass_arithmetic {
    // The product of the point formulas, the hot loop, comes in two forms, and the formulas are
    // generic over [`FieldProduct`]: [`Inlined`] (every product inlined into every formula) and
    // [`Called`] (a call of [`fmul_cold`]). Which is faster depends on the engine: in V8 the
    // inlined form is 0-20 % faster, in Wasmtime (Cranelift) the called one 25-40 %, because
    // Cranelift spills the inlined formulas' hundreds of live limbs (bench/NOTES.md, "P-256: which
    // product form"). P-256 (`both`) has both and picks at run time (`crate::crypto::p256`); P-384
    // (`called`) has only the call: its 14-limb product is twice the code, and ES384 is inside its
    // target without it.
    (@forms both) => {
        $crate::crypto::weierstrass::weierstrass_arithmetic!(@forms called);
        /// Every product inlined into the point formula.
        pub(crate) struct Inlined;
        impl FieldProduct for Inlined {
            #[inline(always)]
            fn mul(a: &Limbs, b: &Limbs) -> Limbs {
                mont_mul(a, b, &P)
            }
        }
    };
    (@forms called) => {
        /// Every product a call of [`fmul_cold`].
        pub(crate) struct Called;
        impl FieldProduct for Called {
            #[inline(always)]
            fn mul(a: &Limbs, b: &Limbs) -> Limbs {
                fmul_cold(a, b)
            }
        }
    };
    ($bytes:literal, $forms:ident) => {
        /// An odd modulus with its Montgomery constants.
        struct Modulus {
            m: Limbs,
            /// `-m^-1 mod 2^BITS`.
            minv: u32,
            /// `R^2 mod m`, `R = 2^(LIMBS·BITS)`.
            r2: Limbs,
        }

        impl Modulus {
            const fn new(be: &[u8; $bytes]) -> Modulus {
                let m = from_be(be);
                let mut inv = 1u32;
                let mut i = 0;
                while i < 5 {
                    inv = inv.wrapping_mul(2u32.wrapping_sub(m[0].wrapping_mul(inv)));
                    i += 1;
                }
                let minv = inv.wrapping_neg() & MASK;
                // R^2 = 2^(2·LIMBS·BITS) mod m by doubling.
                let mut r2 = [0u32; LIMBS];
                r2[0] = 1;
                let mut i = 0;
                while i < 2 * LIMBS * BITS as usize {
                    r2 = add_mod(&r2, &r2, &m);
                    i += 1;
                }
                Modulus { m, minv, r2 }
            }
        }

        const ZERO: Limbs = [0; LIMBS];
        /// 1, plain (not Montgomery form).
        const ONE: Limbs = {
            let mut one = [0; LIMBS];
            one[0] = 1;
            one
        };
        /// 1 in Montgomery form mod p.
        const ONE_M: Limbs = to_mont(&ONE, &P);
        const B_M: Limbs = to_mont(&from_be(&B), &P);

        // The limb primitives below are `const fn` because the moduli and Montgomery constants are built
        // from them at compile time, and a `const fn` can use neither iterators nor `get`. Each one that
        // indexes allows `clippy::indexing_slicing` for that reason only: every index is a loop counter
        // bounded as its comment says, over a fixed-size array, so it is in bounds. `mont_mul` is the hot
        // path of ECDSA; `sub_mod`, not needed at compile time, uses iterators (measured as fast).

        /// Big-endian bytes (the curve's size) to limbs.
        #[allow(clippy::indexing_slicing)] // const fn; `i < bytes`, and `j <= 8·bytes / BITS < LIMBS`
        const fn from_be(b: &[u8; $bytes]) -> Limbs {
            let mut out = [0u32; LIMBS];
            let (mut acc, mut nbits, mut j, mut i) = (0u64, 0u32, 0usize, $bytes);
            while i > 0 {
                i -= 1;
                acc |= (b[i] as u64) << nbits;
                nbits += 8;
                if nbits >= BITS {
                    out[j] = (acc as u32) & MASK;
                    acc >>= BITS;
                    nbits -= BITS;
                    j += 1;
                }
            }
            out[j] = acc as u32;
            out
        }

        /// Limbs (a value below 2^(8·bytes)) to big-endian bytes.
        fn to_be(a: &Limbs) -> [u8; $bytes] {
            let mut out = [0u8; $bytes];
            $crate::crypto::limbs_to_be(a, BITS, &mut out);
            out
        }

        #[inline(always)]
        #[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
        const fn geq(a: &Limbs, b: &Limbs) -> bool {
            let mut i = LIMBS;
            while i > 0 {
                i -= 1;
                if a[i] != b[i] {
                    return a[i] > b[i];
                }
            }
            true
        }

        /// `a + b` (below 2^(LIMBS·BITS)).
        #[inline(always)]
        #[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
        const fn add(a: &Limbs, b: &Limbs) -> Limbs {
            let mut out = [0u32; LIMBS];
            let mut c = 0u32;
            let mut i = 0;
            while i < LIMBS {
                let v = a[i] + b[i] + c;
                out[i] = v & MASK;
                c = v >> BITS;
                i += 1;
            }
            out
        }

        /// `a - b` for `a >= b`.
        #[inline(always)]
        #[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
        const fn sub(a: &Limbs, b: &Limbs) -> Limbs {
            let mut out = [0u32; LIMBS];
            let mut borrow = 0u32;
            let mut i = 0;
            while i < LIMBS {
                let v = a[i].wrapping_sub(b[i]).wrapping_sub(borrow);
                out[i] = v & MASK;
                borrow = v >> 31;
                i += 1;
            }
            out
        }

        /// `a + b mod m` for `a, b < m`: sum, then `sum - m` kept unless it borrowed. Branch-free: which
        /// way it goes is data-dependent and unpredictable, so a branch would mostly mispredict.
        #[inline(always)]
        #[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
        const fn add_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
            let s = add(a, b);
            let mut d = [0u32; LIMBS];
            let mut borrow = 0u32;
            let mut i = 0;
            while i < LIMBS {
                let v = s[i].wrapping_sub(m[i]).wrapping_sub(borrow);
                d[i] = v & MASK;
                borrow = v >> 31;
                i += 1;
            }
            // Keep `s` when `s - m` borrowed (s < m): mask is all ones then.
            let keep = borrow.wrapping_neg();
            let mut i = 0;
            while i < LIMBS {
                d[i] = (s[i] & keep) | (d[i] & !keep);
                i += 1;
            }
            d
        }

        /// `a - b mod m` for `a, b < m`: difference, plus `m` if it borrowed (branch-free, as above).
        #[inline(always)]
        fn sub_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
            let mut d = [0u32; LIMBS];
            let mut borrow = 0u32;
            for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
                let v = a.wrapping_sub(*b).wrapping_sub(borrow);
                *d = v & MASK;
                borrow = v >> 31;
            }
            let mask = borrow.wrapping_neg() & MASK;
            let mut c = 0u32;
            for (d, m) in d.iter_mut().zip(m) {
                let v = *d + (m & mask) + c;
                *d = v & MASK;
                c = v >> BITS;
            }
            d
        }

        /// Montgomery product `a·b / R mod m`, fully reduced, for `a·b < R·m`.
        /// Product scanning: column `i` sums every `a_j·b_(i-j)` and `q_j·m_(i-j)`; at most `2·LIMBS`
        /// products below `2^(2·BITS)` each (P-256: 18 below 2^58; P-384: 28 below 2^56), so a column never overflows 64 bits. The result is below `2m` before the final
        /// subtraction.
        #[allow(clippy::indexing_slicing)] // const fn; `j`, `i - j`, `i - LIMBS` below `LIMBS` by the loop bounds
        #[inline(always)]
        const fn mont_mul(a: &Limbs, b: &Limbs, md: &Modulus) -> Limbs {
            let m = &md.m;
            let mut q = [0u32; LIMBS];
            let mut r = [0u32; LIMBS];
            let mut acc = 0u64;
            let mut i = 0;
            while i < LIMBS {
                let mut j = 0;
                while j < i {
                    acc += a[j] as u64 * b[i - j] as u64 + q[j] as u64 * m[i - j] as u64;
                    j += 1;
                }
                acc += a[i] as u64 * b[0] as u64;
                let qi = (acc as u32).wrapping_mul(md.minv) & MASK;
                q[i] = qi;
                acc += qi as u64 * m[0] as u64;
                acc >>= BITS;
                i += 1;
            }
            while i < 2 * LIMBS - 1 {
                let mut j = i + 1 - LIMBS;
                while j < LIMBS {
                    acc += a[j] as u64 * b[i - j] as u64 + q[j] as u64 * m[i - j] as u64;
                    j += 1;
                }
                r[i - LIMBS] = (acc as u32) & MASK;
                acc >>= BITS;
                i += 1;
            }
            r[LIMBS - 1] = acc as u32;
            if geq(&r, m) {
                sub(&r, m)
            } else {
                r
            }
        }

        // Out of line: `mont_mul` is inlined where it is called, and these run a few times per verification.
        #[inline(never)]
        const fn to_mont(a: &Limbs, md: &Modulus) -> Limbs {
            mont_mul(a, &md.r2, md)
        }

        #[inline(never)]
        fn from_mont(a: &Limbs, md: &Modulus) -> Limbs {
            mont_mul(a, &ONE, md)
        }

        /// A signed number in `LIMBS` limbs of `BITS` bits, least significant first: every limb but the
        /// last in `[0, 2^BITS)`, the last signed (the safegcd inversion's working form).
        type Signed = [i32; LIMBS];

        /// `(u·f + v·g) / 2^BITS` and `(q·f + r·g) / 2^BITS` for the transition matrix `t` of
        /// [`crate::crypto::weierstrass::divsteps`], which makes both divisions exact. Each column is a
        /// sum of two products below 2^(2·BITS) in magnitude and a carry, far inside an `i64`.
        #[inline(always)]
        fn update_fg(f: &mut Signed, g: &mut Signed, t: &[i32; 4]) {
            let [u, v, q, r] = t.map(i64::from);
            let (mut cf, mut cg) = (0i64, 0i64);
            let mut prev: Option<(&mut i32, &mut i32)> = None;
            for (fi, gi) in f.iter_mut().zip(g.iter_mut()) {
                let (x, y) = (i64::from(*fi), i64::from(*gi));
                cf += u * x + v * y;
                cg += q * x + r * y;
                if let Some((pf, pg)) = prev {
                    *pf = cf as i32 & MASK as i32;
                    *pg = cg as i32 & MASK as i32;
                }
                cf >>= BITS;
                cg >>= BITS;
                prev = Some((fi, gi));
            }
            if let Some((pf, pg)) = prev {
                *pf = cf as i32;
                *pg = cg as i32;
            }
        }

        /// `(u·d + v·e) / 2^BITS` and `(q·d + r·e) / 2^BITS` mod m, as `t·[d, e] + m·[md, me]` with the
        /// multiples of m that clear the low `BITS` bits (`m_inv = m^-1 mod 2^BITS`). Keeps `d` and `e`
        /// in `(-2m, m)`: the multiples start with the matrix's row where an input is negative
        /// (secp256k1's `modinv32_update_de_30`, whose bounds proof this follows).
        #[inline(always)]
        fn update_de(d: &mut Signed, e: &mut Signed, t: &[i32; 4], m: &Limbs, m_inv: u32) {
            let [u, v, q, r] = *t;
            let sd = d.last().map_or(0, |top| top >> 31);
            let se = e.last().map_or(0, |top| top >> 31);
            let mut md = (u & sd) + (v & se);
            let mut me = (q & sd) + (r & se);
            let (d0, e0) = (i64::from(d[0]), i64::from(e[0]));
            let cd0 = i64::from(u) * d0 + i64::from(v) * e0;
            let ce0 = i64::from(q) * d0 + i64::from(r) * e0;
            md -= (m_inv.wrapping_mul(cd0 as u32).wrapping_add(md as u32) & MASK) as i32;
            me -= (m_inv.wrapping_mul(ce0 as u32).wrapping_add(me as u32) & MASK) as i32;
            let [u, v, q, r, md, me] = [u, v, q, r, md, me].map(i64::from);
            let (mut cd, mut ce) = (0i64, 0i64);
            let mut prev: Option<(&mut i32, &mut i32)> = None;
            for ((di, ei), mi) in d.iter_mut().zip(e.iter_mut()).zip(m) {
                let (x, y, mi) = (i64::from(*di), i64::from(*ei), i64::from(*mi));
                cd += u * x + v * y + mi * md;
                ce += q * x + r * y + mi * me;
                if let Some((pd, pe)) = prev {
                    *pd = cd as i32 & MASK as i32;
                    *pe = ce as i32 & MASK as i32;
                }
                cd >>= BITS;
                ce >>= BITS;
                prev = Some((di, ei));
            }
            if let Some((pd, pe)) = prev {
                *pd = cd as i32;
                *pe = ce as i32;
            }
        }

        /// `x = sx·x + m` for `sx` ±1 and `m` 0 or the modulus, limbs carried back into the [`Signed`]
        /// form: the inversion's last steps (the sign of `f`, then `d` into `[0, m)`).
        fn combine_signed(x: &mut Signed, sx: i64, m: &Limbs) {
            let mut c = 0i64;
            for (i, (xi, mi)) in x.iter_mut().zip(m).enumerate() {
                c += sx * i64::from(*xi) + i64::from(*mi);
                if i == LIMBS - 1 {
                    *xi = c as i32;
                } else {
                    *xi = c as i32 & MASK as i32;
                    c >>= BITS;
                }
            }
        }

        /// `a^-1 mod m` (plain, not Montgomery form) for `0 < a < m`, `m` an odd prime: Bernstein and
        /// Yang's safegcd, variable time, in the form of secp256k1's `modinv32_var`. Each pass runs
        /// `BITS` divsteps on the low limbs alone ([`crate::crypto::weierstrass::divsteps`]) and
        /// applies their matrix to the whole numbers: about 20 passes of a few hundred operations,
        /// where the binary extended Euclid before it (a 9-limb shift per bit) took 6.7 µs in V8.
        /// Invariants: `d·a ≡ f` and `e·a ≡ g (mod m)`, so when `g` reaches 0, `f = ±gcd(a, m) = ±1`
        /// and `±d` is the inverse. `None` for `a = 0`, `a ≥ m`, and, as guards, if the pass bound is
        /// hit or `f` ends other than ±1 (neither happens for a prime `m`).
        fn invert(a: &Limbs, md: &Modulus) -> Option<Limbs> {
            let m = &md.m;
            if *a == ZERO || geq(a, m) {
                return None;
            }
            // m^-1 mod 2^BITS (Modulus keeps its negation for the Montgomery product).
            let m_inv = md.minv.wrapping_neg() & MASK;
            let (mut f, mut g): (Signed, Signed) = (m.map(|l| l as i32), a.map(|l| l as i32));
            let (mut d, mut e): (Signed, Signed) = ([0; LIMBS], [0; LIMBS]);
            e[0] = 1;
            let mut eta = -1i32;
            // At most 2.9·bits divsteps for any input (secp256k1's bound, 724 for 256 bits): 4·LIMBS passes
            // of BITS divsteps are more than enough.
            let mut done = false;
            for _ in 0..4 * LIMBS {
                let (next, t) = crate::crypto::weierstrass::divsteps(eta, f[0] as u32, g[0] as u32, BITS);
                eta = next;
                update_de(&mut d, &mut e, &t, m, m_inv);
                update_fg(&mut f, &mut g, &t);
                if g == [0; LIMBS] {
                    done = true;
                    break;
                }
            }
            let mut one: Signed = [0; LIMBS];
            one[0] = 1;
            let mut minus_one: Signed = [MASK as i32; LIMBS];
            minus_one[LIMBS - 1] = -1;
            if !done || (f != one && f != minus_one) {
                return None;
            }
            // d in (-2m, m): negate it with f = -1, then bring it into [0, m).
            if f == minus_one {
                combine_signed(&mut d, -1, &ZERO);
            }
            for _ in 0..2 {
                if d[LIMBS - 1] < 0 {
                    combine_signed(&mut d, 1, m);
                }
            }
            let mut x: Limbs = d.map(|l| l as u32);
            for _ in 0..2 {
                if geq(&x, m) {
                    x = sub(&x, m);
                }
            }
            (d[LIMBS - 1] >= 0 && !geq(&x, m)).then_some(x)
        }

        /// The field product mod p, with p's limbs and Montgomery constant folded into the code (zero
        /// limbs skipped, products by constants strength-reduced: ES256 13 % faster in V8 than the
        /// product reading the modulus from memory), out of line: for the code that runs a few times
        /// per verification (normalisation, the final check, key validation).
        #[inline(never)]
        fn fmul_cold(a: &Limbs, b: &Limbs) -> Limbs {
            mont_mul(a, b, &P)
        }
        #[inline(always)]
        fn fsqr_cold(a: &Limbs) -> Limbs {
            fmul_cold(a, a)
        }
        /// The field product mod p of the point formulas, in one of the forms above.
        trait FieldProduct {
            fn mul(a: &Limbs, b: &Limbs) -> Limbs;
            /// A dedicated squaring (P-256: 126 products instead of 162) measured slower in V8: it
            /// does not unroll as cleanly.
            #[inline(always)]
            fn sqr(a: &Limbs) -> Limbs {
                Self::mul(a, a)
            }
        }
        $crate::crypto::weierstrass::weierstrass_arithmetic!(@forms $forms);
        #[inline(always)]
        fn fadd(a: &Limbs, b: &Limbs) -> Limbs {
            add_mod(a, b, &P.m)
        }
        #[inline(always)]
        fn fsub(a: &Limbs, b: &Limbs) -> Limbs {
            sub_mod(a, b, &P.m)
        }

        /// An affine point, coordinates in Montgomery form; never the identity.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Affine {
            pub(crate) x: Limbs,
            pub(crate) y: Limbs,
        }

        /// A Jacobian point `(X/Z^2, Y/Z^3)`, Montgomery form; `Z = 0` is the identity.
        #[derive(Clone, Copy, Debug)]
        struct Jacobian {
            x: Limbs,
            y: Limbs,
            z: Limbs,
        }

        const IDENTITY: Jacobian = Jacobian { x: ONE_M, y: ONE_M, z: ZERO };

        impl Jacobian {
            fn from_affine(p: &Affine) -> Jacobian {
                Jacobian { x: p.x, y: p.y, z: ONE_M }
            }

            /// `self = 2·self`: dbl-2001-b (a = -3), with `Z3 = 2·Y·Z`, `4β = X·4γ`, `8γ² = 2(2γ)²`: 4M + 4S. The identity doubles to itself; neither curve has
            /// a point of order 2 (their orders are odd primes). The two factors of alpha are left unreduced (`3t < 3p`, `X + delta < 2p`):
            /// their product is below `R·p`, which is all [`mont_mul`] needs.
            ///
            /// In place, as every point operation here: a point returned by value is a 108-byte
            /// (P-384: 156) copy into the caller's variable, which LLVM makes a `memory.copy`, and both
            /// engines run that as a call out of the compiled code (ES256 15-35 % slower that way:
            /// bench/NOTES.md, "P-256 and P-384: points in place").
            fn double_in_place<F: FieldProduct>(&mut self) {
                if self.z == ZERO {
                    return;
                }
                let delta = F::sqr(&self.z);
                let gamma = F::sqr(&self.y);
                let t = fsub(&self.x, &delta);
                let alpha = F::mul(&add(&add(&t, &t), &t), &add(&self.x, &delta));
                // 4·beta = X·4γ and 8γ² = 2·(2γ)²: two doublings of γ serve both.
                let gamma2 = fadd(&gamma, &gamma);
                let beta4 = F::mul(&self.x, &fadd(&gamma2, &gamma2));
                let x = fsub(&F::sqr(&alpha), &fadd(&beta4, &beta4));
                let yz = F::mul(&self.y, &self.z);
                let z = fadd(&yz, &yz);
                let g4 = F::sqr(&gamma2);
                let y = fsub(&F::mul(&alpha, &fsub(&beta4, &x)), &fadd(&g4, &g4));
                self.set(x, y, z);
            }

            /// Field by field: each is 36 (P-384: 52) bytes, which LLVM stores inline.
            #[inline(always)]
            fn set(&mut self, x: Limbs, y: Limbs, z: Limbs) {
                self.x = x;
                self.y = y;
                self.z = z;
            }

            /// `self = self + (x2, y2, z2)`; `z2 = None` means an affine point (mixed addition, 8M + 3S).
            /// Equal points go to [`Self::double_in_place`], opposite points give the identity.
            fn add_in_place<F: FieldProduct>(&mut self, x2: &Limbs, y2: &Limbs, z2: Option<&Limbs>) {
                if z2 == Some(&ZERO) {
                    return;
                }
                if self.z == ZERO {
                    self.set(*x2, *y2, z2.copied().unwrap_or(ONE_M));
                    return;
                }
                let z1z1 = F::sqr(&self.z);
                let (u1, s1) = match z2 {
                    None => (self.x, self.y),
                    // Only tables are built with Jacobian points: the out-of-line product keeps
                    // the code of the hot mixed addition small.
                    Some(z2) => {
                        let z2z2 = fsqr_cold(z2);
                        (fmul_cold(&self.x, &z2z2), fmul_cold(&self.y, &fmul_cold(z2, &z2z2)))
                    }
                };
                let u2 = F::mul(x2, &z1z1);
                let s2 = F::mul(y2, &F::mul(&self.z, &z1z1));
                let h = fsub(&u2, &u1);
                let r = fsub(&s2, &s1);
                if h == ZERO {
                    if r == ZERO {
                        self.double_in_place::<F>();
                    } else {
                        self.set(IDENTITY.x, IDENTITY.y, IDENTITY.z);
                    }
                    return;
                }
                let hh = F::sqr(&h);
                let hhh = F::mul(&h, &hh);
                let v = F::mul(&u1, &hh);
                let x = fsub(&fsub(&F::sqr(&r), &hhh), &fadd(&v, &v));
                let y = fsub(&F::mul(&r, &fsub(&v, &x)), &F::mul(&s1, &hhh));
                let z = F::mul(&self.z, &h);
                let z = match z2 {
                    None => z,
                    Some(z2) => fmul_cold(&z, z2),
                };
                self.set(x, y, z);
            }

            /// `self = self ± p`.
            fn add_affine_in_place<F: FieldProduct>(&mut self, p: &Affine, negate: bool) {
                if negate {
                    self.add_in_place::<F>(&p.x, &fsub(&ZERO, &p.y), None)
                } else {
                    self.add_in_place::<F>(&p.x, &p.y, None)
                }
            }
        }

        /// Affine forms of `points` (none the identity) with one inversion (Montgomery's trick).
        fn normalize(points: &[Jacobian]) -> Option<Vec<Affine>> {
            let mut prefix = Vec::with_capacity(points.len());
            let mut acc = ONE_M;
            for p in points {
                prefix.push(acc);
                acc = fmul_cold(&acc, &p.z);
            }
            // (Z_0···Z_(K-1))^-1, back in Montgomery form.
            let mut inv = to_mont(&invert(&from_mont(&acc, &P), &P)?, &P);
            let mut out = vec![Affine { x: ZERO, y: ZERO }; points.len()];
            for ((o, p), pre) in out.iter_mut().zip(points).rev().zip(prefix.iter().rev()) {
                let zinv = fmul_cold(&inv, pre);
                inv = fmul_cold(&inv, &p.z);
                let zinv2 = fsqr_cold(&zinv);
                *o = Affine { x: fmul_cold(&p.x, &zinv2), y: fmul_cold(&p.y, &fmul_cold(&zinv2, &zinv)) };
            }
            Some(out)
        }


        /// Adds the table entry for `digit` (odd when nonzero; zero or absent adds nothing) to `acc`.
        fn add_digit<F: FieldProduct, const K: usize>(acc: &mut Jacobian, table: &[Affine; K], digit: Option<&i8>) {
            let Some(&d) = digit.filter(|d| **d != 0) else { return };
            if let Some(p) = table.get(usize::from(d.unsigned_abs() / 2)) {
                acc.add_affine_in_place::<F>(p, d < 0);
            }
        }

        /// The Montgomery product mod n, out of line (twice per verification).
        #[inline(never)]
        fn scalar_mul(a: &Limbs, b: &Limbs) -> Limbs {
            mont_mul(a, b, &N)
        }

        /// ECDSA verification's scalars (SEC 1 4.1.4 steps 1-5): `r`, `u1 = e·s^-1` and `u2 = r·s^-1`
        /// mod n, or `None` for `r` or `s` outside `[1, n-1]`. The hash has the curve's size, so
        /// `e = digest mod n` is at most one subtraction.
        fn ecdsa_scalars(digest: &[u8; $bytes], sig: &[u8; 2 * $bytes]) -> Option<(Limbs, Limbs, Limbs)> {
            let (mut r_be, mut s_be) = ([0u8; $bytes], [0u8; $bytes]);
            let (r_sig, s_sig) = sig.split_at($bytes);
            r_be.copy_from_slice(r_sig);
            s_be.copy_from_slice(s_sig);
            let (r, s) = (from_be(&r_be), from_be(&s_be));
            if r == ZERO || s == ZERO || geq(&r, &N.m) || geq(&s, &N.m) {
                return None;
            }
            let e = from_be(digest);
            let e = if geq(&e, &N.m) { sub(&e, &N.m) } else { e };
            let s_inv = invert(&s, &N)?;
            // With w = s^-1·R: mont(e, w) = e·s^-1, mont(r, w) = r·s^-1 (plain).
            let w = to_mont(&s_inv, &N);
            Some((r, scalar_mul(&e, &w), scalar_mul(&r, &w)))
        }

        /// ECDSA verification's last step: `x(R) mod n == r` for `R = u1·G + u2·Q`, without an inversion:
        /// `X/Z^2 ∈ {r, r + n}`, `r + n` only when below p. The identity never matches.
        fn x_is_r(acc: &Jacobian, r: &Limbs) -> bool {
            if acc.z == ZERO {
                return false;
            }
            let zz = fsqr_cold(&acc.z);
            if fmul_cold(&to_mont(r, &P), &zz) == acc.x {
                return true;
            }
            let rn = add(r, &N.m);
            !geq(&rn, &P.m) && fmul_cold(&to_mont(&rn, &P), &zz) == acc.x
        }

        /// The affine point of big-endian coordinates, in Montgomery form, if each is below p and it lies
        /// on the curve `y^2 = x^3 - 3x + b` (an affine point is never the identity).
        fn curve_point(x: &[u8; $bytes], y: &[u8; $bytes]) -> Option<Affine> {
            let (x, y) = (from_be(x), from_be(y));
            if geq(&x, &P.m) || geq(&y, &P.m) {
                return None;
            }
            let (x, y) = (to_mont(&x, &P), to_mont(&y, &P));
            let x3 = fmul_cold(&fsqr_cold(&x), &x);
            let three_x = fadd(&fadd(&x, &x), &x);
            (fsqr_cold(&y) == fadd(&fsub(&x3, &three_x), &B_M)).then_some(Affine { x, y })
        }

        /// The curve's own tests of the shared arithmetic.
        #[cfg(test)]
        mod shared_arithmetic_tests {
            use super::*;

            /// The safegcd inversion against the definition `a·x ≡ 1 (mod m)`, for p and n: small values,
            /// `m - 1` and `m - 2`, every power of two below m, and pseudo-random values (xorshift).
            #[test]
            fn invert_gives_the_inverse_mod_p_and_n() {
                for md in [&P, &N] {
                    let m = md.m;
                    let is_inverse = |a: &Limbs| {
                        let x = invert(a, md).expect("an inverse"); // ok: the test's assertion
                        assert!(!geq(&x, &m));
                        assert_eq!(from_mont(&mont_mul(&to_mont(a, md), &to_mont(&x, md), md), md), ONE, "a = {a:?}");
                    };
                    let mut values = alloc::vec![ONE, sub(&m, &ONE), sub(&m, &add(&ONE, &ONE))];
                    for bit in 0..LIMBS * BITS as usize {
                        let mut p = ZERO;
                        p[bit / BITS as usize] = 1 << (bit % BITS as usize);
                        if !geq(&p, &m) {
                            values.push(p);
                        }
                    }
                    let mut state = 0x9e37_79b9_7f4a_7c15u64;
                    while values.len() < 3000 {
                        let mut a = ZERO;
                        for limb in a.iter_mut() {
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            *limb = (state >> 20) as u32 & MASK;
                        }
                        if a != ZERO && !geq(&a, &m) {
                            values.push(a);
                        }
                    }
                    values.iter().for_each(is_inverse);
                    assert_eq!(invert(&ZERO, md), None);
                    assert_eq!(invert(&m, md), None);
                }
            }
        }
    };
}
pub(crate) use weierstrass_arithmetic;

/// `n ≤ 30` divsteps of Bernstein and Yang's safegcd on the low bits of `f` (odd) and `g`, variable
/// time (secp256k1's `modinv32_divsteps_30_var`): returns the new `eta` and the transition matrix
/// `[u, v, q, r]`, scaled by 2^n, with `[f', g'] = [[u, v], [q, r]]·[f, g] / 2^n` for the whole
/// numbers. Runs of zeros in `g` go at once, and each odd step cancels up to 16 low bits of `g` with
/// one multiple of `f` (its inverse mod 2^16 by Newton's method), as many single divsteps would.
pub(super) fn divsteps(mut eta: i32, f0: u32, g0: u32, n: u32) -> (i32, [i32; 4]) {
    let (mut u, mut v, mut q, mut r) = (1u32, 0u32, 0u32, 1u32);
    let (mut f, mut g) = (f0, g0);
    let mut f_inv = inverse_mod_2_16(f);
    let mut i = n;
    loop {
        // The sentinel bit at i bounds the count of zeros by the divsteps left.
        let zeros = (g | (u32::MAX << i)).trailing_zeros();
        g >>= zeros;
        u <<= zeros;
        v <<= zeros;
        eta -= zeros as i32;
        i -= zeros;
        if i == 0 {
            break;
        }
        if eta < 0 {
            eta = -eta;
            (f, g) = (g, f.wrapping_neg());
            (u, q) = (q, u.wrapping_neg());
            (v, r) = (r, v.wrapping_neg());
            f_inv = inverse_mod_2_16(f);
        }
        // No more than i bits (the divsteps left) and eta + 1 (eta's sign flips there).
        let limit = (eta + 1).min(i as i32).min(16) as u32;
        let mask = u32::MAX >> (32 - limit);
        let w = g.wrapping_mul(f_inv.wrapping_neg()) & mask;
        g = g.wrapping_add(f.wrapping_mul(w));
        q = q.wrapping_add(u.wrapping_mul(w));
        r = r.wrapping_add(v.wrapping_mul(w));
    }
    (eta, [u as i32, v as i32, q as i32, r as i32])
}

/// `f^-1 mod 2^16` (right in the low 20 bits) for odd `f`: `3f XOR 2` is right to 5 bits, and each
/// Newton step doubles that.
fn inverse_mod_2_16(f: u32) -> u32 {
    let mut inv = f.wrapping_mul(3) ^ 2;
    inv = inv.wrapping_mul(2u32.wrapping_sub(f.wrapping_mul(inv)));
    inv.wrapping_mul(2u32.wrapping_sub(f.wrapping_mul(inv)))
}

/// wNAF digits of the `L - 1` low bits given by `bit` (least significant first): odd digits in
/// `(-2^(w-1), 2^(w-1))`, any two nonzero digits at least `w` apart; the extra position takes the
/// final carry. Where a digit is odd, the window of `w` bits (plus the carry) becomes one signed
/// digit `d`, and `window - d` (0 or `2^w`) carries into the position after the window.
pub(super) fn wnaf<const L: usize>(bit: impl Fn(usize) -> u32, w: usize) -> [i8; L] {
    let mut out = [0i8; L];
    let (mut carry, mut i) = (0u32, 0usize);
    while i < L {
        let b = if i + 1 < L { bit(i) } else { 0 } + carry;
        if b & 1 == 0 {
            carry = b >> 1;
            i += 1;
            continue;
        }
        let mut window = carry;
        for j in 0..w {
            if i + j + 1 < L {
                window += bit(i + j) << j;
            }
        }
        let full = 1i32 << w;
        let mut d = (window as i32) & (full - 1);
        if d >= full / 2 {
            d -= full;
        }
        carry = ((window as i32 - d) >> w) as u32;
        if let Some(o) = out.get_mut(i) {
            *o = d as i8;
        }
        i += w;
    }
    out
}
