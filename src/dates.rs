//! Reading the dates users type: `--date 2026-10-01`, RFC 3339, or a day in UTC.
//!
//! A bare day means the END of that day, so `restore --date 2026-10-01` finds the
//! snapshot taken that evening. Without a zone the day is in local time; `Z` or an
//! offset pins it.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

#[derive(Debug, thiserror::Error)]
#[error("cannot read the date {0:?}: use YYYY-MM-DD (end of that day, local time), YYYY-MM-DDZ (UTC) or an RFC 3339 timestamp like 2026-10-01T12:00:00Z")]
pub struct DateError(pub String);

/// The instant a `--date` value stands for.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>, DateError> {
    let t = text.trim();
    let err = || DateError(text.to_string());
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S") {
        return local(d).ok_or_else(err);
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S") {
        return local(d).ok_or_else(err);
    }
    let (day, zone) = split_zone(t);
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| err())?;
    let end = day
        .and_hms_milli_opt(23, 59, 59, 999)
        .expect("valid time of day");
    match zone {
        None => local(end).ok_or_else(err),
        Some(offset) => offset
            .from_local_datetime(&end)
            .single()
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(err),
    }
}

/// Parses a snapshot time given on the command line (`snapshot --time`).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, DateError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    // A bare day here means its middle (noon), so the day stays the same in every
    // time zone a reader may later use.
    let (day, zone) = split_zone(t);
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| DateError(text.into()))?;
    let start = day.and_hms_opt(12, 0, 0).expect("valid time");
    let d = match zone {
        None => local(start),
        Some(z) => z
            .from_local_datetime(&start)
            .single()
            .map(|d| d.with_timezone(&Utc)),
    };
    d.ok_or_else(|| DateError(text.into()))
}

fn local(d: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local
        .from_local_datetime(&d)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

fn split_zone(t: &str) -> (&str, Option<FixedOffset>) {
    if let Some(day) = t.strip_suffix(['Z', 'z']) {
        return (day, FixedOffset::east_opt(0));
    }
    if let (Some(day), Some(zone)) = (t.get(..10), t.get(10..)) {
        if let Ok(off) = DateTime::parse_from_str(
            &format!("2000-01-01T00:00:00{zone}"),
            "%Y-%m-%dT%H:%M:%S%:z",
        ) {
            return (day, Some(*off.offset()));
        }
    }
    (t, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_means_its_end() {
        let d = parse_until("2026-10-01Z").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-10-01T23:59:59.999+00:00");
        let d = parse_until("2026-10-01+02:00").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-10-01T21:59:59.999+00:00");
    }

    #[test]
    fn rfc3339_is_exact() {
        let d = parse_until("2026-10-01T08:30:00+01:00").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-10-01T07:30:00+00:00");
    }

    #[test]
    fn nonsense_is_an_error_that_explains() {
        assert!(parse_until("2026-10-0é+0100").is_err());
        assert!(parse_instant("2026-10-0é+0100").is_err());
        let e = parse_until("yesterday").unwrap_err().to_string();
        assert!(e.contains("yesterday") && e.contains("YYYY-MM-DD"), "{e}");
        assert!(parse_until("2026-13-01").is_err());
    }
}
