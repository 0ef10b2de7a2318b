//! `gemm` against the plain triple loop on strided views, both element
//! types, and its checks.

use sharegrad_runtime::{gemm, gemm_loops, View};

mod common;
use common::Rng;

/// A view of a `rows × cols` matrix in one of four layouts (row-major,
/// column-major, either with padding between rows/columns), at a random
/// offset; returns the view and the slice length it needs (plus slack).
fn layout(rng: &mut Rng, rows: usize, cols: usize) -> (View, usize) {
    let off = rng.upto(5);
    let pad = rng.upto(4);
    let v = if rng.upto(2) == 0 {
        [off, cols + pad, 1]
    } else {
        [off, 1, rows + pad]
    };
    let len = off + (rows - 1) * v[1] + (cols - 1) * v[2] + 1 + rng.upto(3);
    (v, len)
}

#[test]
fn strided_products_match_the_triple_loop() {
    let mut rng = Rng(7);
    for case in 0..300 {
        // Mostly small, sometimes past the kernels' block sizes.
        let big = case % 25 == 0;
        let dim = |rng: &mut Rng| {
            1 + if big {
                40 + rng.upto(300)
            } else {
                rng.upto(12)
            }
        };
        let (m, n, k) = (dim(&mut rng), dim(&mut rng), dim(&mut rng));
        let (av, al) = layout(&mut rng, m, k);
        let (bv, bl) = layout(&mut rng, k, n);
        let (cv, cl) = layout(&mut rng, m, n);
        let a: Vec<f64> = (0..al).map(|_| rng.unit()).collect();
        let b: Vec<f64> = (0..bl).map(|_| rng.unit()).collect();
        let c0: Vec<f64> = (0..cl).map(|_| rng.unit()).collect();
        let alpha = rng.unit() * 4.0;
        let mut want = c0.clone();
        gemm_loops(m, n, k, alpha, &a, av, &b, bv, &mut want, cv);
        let mut got = c0.clone();
        gemm(m, n, k, alpha, &a, av, &b, bv, &mut got, cv);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()) * k as f64,
                "f64 case {case} ({m}x{n}x{k}) element {i}: {g} vs {w}"
            );
        }
        // f32: the same data rounded, against the f64 loop.
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mut got32 = f(&c0);
        gemm(
            m,
            n,
            k,
            alpha as f32,
            &f(&a),
            av,
            &f(&b),
            bv,
            &mut got32,
            cv,
        );
        let mut want32 = c0.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>();
        let (a32, b32) = (f(&a), f(&b));
        let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        gemm_loops(
            m,
            n,
            k,
            alpha as f32 as f64,
            &up(&a32),
            av,
            &up(&b32),
            bv,
            &mut want32,
            cv,
        );
        for (i, (g, w)) in got32.iter().zip(&want32).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()) * (k as f64).sqrt() * 4.0,
                "f32 case {case} ({m}x{n}x{k}) element {i}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn elements_outside_the_output_view_are_untouched() {
    // C is every other element of a row with padding: the gaps keep their
    // values.
    let (m, n, k) = (3, 4, 5);
    let a: Vec<f32> = (0..m * k).map(|x| x as f32).collect();
    let b: Vec<f32> = (0..k * n).map(|x| 1.0 - x as f32).collect();
    let mut c = vec![-7.0f32; 40];
    gemm(
        m,
        n,
        k,
        1.0,
        &a,
        [0, k, 1],
        &b,
        [0, n, 1],
        &mut c,
        [1, 10, 2],
    );
    for (i, x) in c.iter().enumerate() {
        let inside = i >= 1 && (i - 1) % 2 == 0 && (i - 1) % 10 < 2 * n && (i - 1) / 10 < m;
        if !inside {
            assert_eq!(*x, -7.0, "element {i} changed");
        } else {
            let (r, col) = ((i - 1) / 10, (i - 1) % 10 / 2);
            let want: f32 = (0..k).map(|l| a[r * k + l] * b[l * n + col]).sum::<f32>() - 7.0;
            assert_eq!(*x, want, "element {i}");
        }
    }
}

#[test]
fn an_output_view_that_revisits_elements_accumulates_every_product() {
    // Row stride 0: all rows land on one row, so C gets the column sums.
    let (m, n, k) = (4, 3, 2);
    let a: Vec<f64> = (0..m * k).map(|x| x as f64 + 1.0).collect();
    let b: Vec<f64> = (0..k * n).map(|x| x as f64 - 2.0).collect();
    let mut c = vec![0.0f64; n];
    gemm(
        m,
        n,
        k,
        2.0,
        &a,
        [0, k, 1],
        &b,
        [0, n, 1],
        &mut c,
        [0, 0, 1],
    );
    for (j, x) in c.iter().enumerate() {
        let want: f64 = (0..m)
            .map(|i| (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f64>())
            .sum::<f64>()
            * 2.0;
        assert_eq!(*x, want);
    }
}

#[test]
fn empty_products_write_nothing() {
    let mut c = vec![3.0f32; 4];
    gemm(
        2,
        2,
        0,
        1.0,
        &[],
        [0, 0, 0],
        &[],
        [0, 0, 0],
        &mut c,
        [0, 2, 1],
    );
    gemm(
        0,
        2,
        5,
        1.0,
        &[],
        [9, 9, 9],
        &[1.0; 10],
        [0, 2, 1],
        &mut c,
        [0, 2, 1],
    );
    assert_eq!(c, vec![3.0; 4]);
}

#[test]
#[should_panic(
    expected = "B (3 x 2 at offset 1, strides 2, 1) reaches past its slice of 6 elements"
)]
fn a_view_past_its_slice_panics_before_any_write() {
    let a = [1.0f32; 6];
    let b = [1.0f32; 6];
    let mut c = [0.0f32; 4];
    gemm(
        2,
        2,
        3,
        1.0,
        &a,
        [0, 3, 1],
        &b,
        [1, 2, 1],
        &mut c,
        [0, 2, 1],
    );
}

#[test]
#[should_panic(expected = "reaches past its slice")]
fn overflowing_strides_panic() {
    let a = [1.0f64; 4];
    let mut c = [0.0f64; 4];
    gemm(
        2,
        2,
        2,
        1.0,
        &a,
        [0, usize::MAX / 2, 1],
        &a,
        [0, 2, 1],
        &mut c,
        [0, 2, 1],
    );
}

#[test]
fn an_overwriting_product_over_an_empty_sum_is_zero() {
    use sharegrad_runtime::Gemm;
    let mut c = vec![3.0f32; 4];
    f32::gemm_into(
        2,
        2,
        0,
        1.0,
        &[],
        [0, 0, 0],
        &[],
        [0, 0, 0],
        &mut c,
        [0, 2, 1],
        false,
    );
    assert_eq!(c, vec![0.0; 4]);
    let mut c = vec![3.0f64; 6];
    // Overwrite a 2 x 2 product into every other column of a 2 x 3 matrix.
    f64::gemm_into(
        2,
        2,
        1,
        2.0,
        &[1.0, 2.0],
        [0, 1, 1],
        &[3.0, 4.0],
        [0, 1, 1],
        &mut c,
        [0, 3, 2],
        false,
    );
    assert_eq!(c, vec![6.0, 3.0, 8.0, 12.0, 3.0, 16.0]);
}
