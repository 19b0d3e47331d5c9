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

/// One line of a labelled secret corpus (`scripts/make-secret-corpus.py`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SecretCase {
    pub text: String,
    /// 1: the text holds a secret.
    pub label: u8,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub context: String,
    /// Positives: the secret as it appears in `text`.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Secret-detection figures: recall on positives, false-positive rate on the
/// hard negatives, and what was missed or wrongly found (`type/context`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SecretQuality {
    pub positives: usize,
    pub found: usize,
    pub recall: f64,
    pub negatives: usize,
    pub false_positives: usize,
    pub fpr: f64,
    pub misses: Vec<String>,
    pub false_alarms: Vec<String>,
}

/// Reads corpus lines; an error names the line.
pub fn read_secret_cases(text: &str) -> Result<Vec<SecretCase>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// A positive counts as found when a finding covers part of its secret; a
/// negative is a false positive when anything is found in it.
pub fn secrets(rules: &crate::SecretRules, cases: &[SecretCase]) -> SecretQuality {
    let mut q = SecretQuality::default();
    for c in cases {
        let findings = rules.scan(&c.text);
        if c.label == 1 {
            q.positives += 1;
            let span = c.secret.as_deref().and_then(|s| c.text.find(s).map(|at| (at, at + s.len())));
            let hit = match span {
                Some((s, e)) => findings.iter().any(|f| f.start < e && s < f.end),
                None => !findings.is_empty(),
            };
            if hit {
                q.found += 1;
            } else {
                q.misses.push(format!("{}/{}", c.kind, c.context));
            }
        } else {
            q.negatives += 1;
            if let Some(f) = findings.first() {
                q.false_positives += 1;
                q.false_alarms.push(format!("{} (found {})", c.kind, f.kind));
            }
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    q.recall = div(q.found, q.positives);
    q.fpr = div(q.false_positives, q.negatives);
    q
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
