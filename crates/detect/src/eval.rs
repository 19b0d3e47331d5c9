//! Quality figures for a scored, labelled set: precision, recall, F1 at a
//! threshold, the false-positive rate there, and recall at 1% FPR.

#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    pub n: usize,
    pub positives: usize,
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub fpr: f64,
    /// Recall at the highest threshold whose false-positive rate is ≤ 1%.
    pub recall_at_1pct_fpr: f64,
}

/// `scored`: (score, is_positive).
pub fn quality(scored: &[(f32, bool)], threshold: f32) -> Quality {
    let positives = scored.iter().filter(|s| s.1).count();
    let negatives = scored.len() - positives;
    let (mut tp, mut fp) = (0usize, 0usize);
    for &(s, y) in scored {
        if s >= threshold {
            if y {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, positives);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    // Walk thresholds from the top: the last point with FPR ≤ 1%.
    let mut sorted: Vec<(f32, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let allowed = negatives / 100;
    let (mut t, mut f, mut best) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        // Items with equal scores are admitted together.
        let s = sorted[i].0;
        let (mut dt, mut df) = (0, 0);
        while i < sorted.len() && sorted[i].0 == s {
            if sorted[i].1 {
                dt += 1;
            } else {
                df += 1;
            }
            i += 1;
        }
        if f + df > allowed {
            break;
        }
        t += dt;
        f += df;
        best = t;
    }
    Quality {
        n: scored.len(),
        positives,
        threshold,
        precision,
        recall,
        f1,
        fpr: div(fp, negatives),
        recall_at_1pct_fpr: div(best, positives),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_on_a_small_set() {
        let s = [(0.9, true), (0.8, true), (0.7, false), (0.4, true), (0.1, false), (0.2, false)];
        let q = quality(&s, 0.5);
        assert_eq!(q.positives, 3);
        assert!((q.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((q.recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((q.fpr - 1.0 / 3.0).abs() < 1e-9);
        // 1% of 3 negatives is 0 allowed: the top two positives only.
        assert!((q.recall_at_1pct_fpr - 2.0 / 3.0).abs() < 1e-9);
    }
}
