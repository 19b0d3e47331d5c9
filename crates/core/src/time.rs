//! Wall-clock instants at one-second resolution, shown as RFC 3339 (UTC).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(now_ms() / 1000)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn format_rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.0.to_string())
}

/// An RFC 3339 instant, or a `YYYY-MM-DD` date meaning the end of that day (UTC).
pub fn parse_instant_or_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(d) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(Timestamp(d.unix_timestamp()));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &fmt).ok()?;
    Some(Timestamp(date.with_hms(23, 59, 59).ok()?.assume_utc().unix_timestamp()))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(*self))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(*self))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Timestamp(n)),
            Raw::Text(s) => parse_instant_or_date(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an RFC 3339 time or YYYY-MM-DD date"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let t = Timestamp(1_782_864_000);
        assert_eq!(format_rfc3339(t), "2026-07-01T00:00:00Z");
        assert_eq!(parse_instant_or_date("2026-07-01T00:00:00Z"), Some(t));
        assert_eq!(parse_instant_or_date("2026-07-01T02:00:00+02:00"), Some(t));
        assert_eq!(parse_instant_or_date("2026-06-30"), Some(Timestamp(t.0 - 1)));
        assert_eq!(parse_instant_or_date("June"), None);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-07-01T00:00:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>("\"2026-07-01T00:00:00Z\"").unwrap(), t);
        assert_eq!(serde_json::from_str::<Timestamp>("1782864000").unwrap(), t);
    }
}
