//! Summaries of measured values, shared by the reports and benchmarks.

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending): the
/// value at rank ⌈p·n/100⌉, at least the first; `T::default()` when empty.
///
/// # Example
/// ```
/// use haven_core::stats::percentile;
/// let v: Vec<u64> = (1..=100).collect();
/// assert_eq!(percentile(&v, 99), 99);
/// assert_eq!(percentile::<u64>(&[], 50), 0);
/// ```
pub fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}
