//! A shop's time zone (`timezone` in its config), in which its summary periods start and end:
//! an IANA name (`"Europe/London"`), whose offset follows daylight saving by the tz database
//! bundled with `jiff` (the same on every machine, whatever its `/usr/share/zoneinfo`), or a
//! fixed UTC offset (`"+13:00"`, `"UTC"`), as the only form before IANA names were taken.
//!
//! A period is the whole stretch of time whose local clock shows the same hour, day or ISO
//! week: midnight to midnight is 23 hours on the day clocks go forward and 25 on the day they
//! go back, and the hour clocks go back through lasts two hours (01:00 BST to 02:00 GMT), so
//! each period has one label and every instant one period.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use crate::config::SummaryPeriod;

/// A validated shop time zone.
#[derive(Clone)]
pub struct ShopZone {
    /// As the config wrote it, for messages.
    text: String,
    tz: TimeZone,
}

impl fmt::Debug for ShopZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShopZone").field(&self.text).finish()
    }
}

impl PartialEq for ShopZone {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Default for ShopZone {
    fn default() -> Self {
        ShopZone {
            text: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }
}

impl<'de> Deserialize<'de> for ShopZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ShopZone::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `"+13:00"`, `"-0530"`, `"+5"`, `"UTC"`, `"Z"`.
pub fn parse_offset(text: &str) -> Option<time::UtcOffset> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Some(time::UtcOffset::UTC);
    }
    let sign: i8 = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let rest = &text[1..];
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let hours: i8 = hours.parse().ok().filter(|h| (0..=14).contains(h))?;
    let minutes: i8 = minutes.parse().ok().filter(|m| (0..60).contains(m))?;
    time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

fn to_jiff(at: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .expect("an OffsetDateTime is within jiff's range")
}

fn to_time(at: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond())
        .expect("a period boundary near an OffsetDateTime is within its range")
}

/// What a period is made of: instants whose local clock shows the same bucket share a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Hour(Date, i8),
    Day(Date),
    Week(i16, i8),
}

fn bucket(local: DateTime, length: SummaryPeriod) -> Bucket {
    match length {
        SummaryPeriod::Hourly => Bucket::Hour(local.date(), local.hour()),
        SummaryPeriod::Daily => Bucket::Day(local.date()),
        SummaryPeriod::Weekly => {
            let week = local.date().iso_week_date();
            Bucket::Week(week.year(), week.week())
        }
    }
}

/// The local start of `local`'s bucket, and the local start of the next one.
fn civil_bounds(local: DateTime, length: SummaryPeriod) -> (DateTime, DateTime) {
    let date = local.date();
    match length {
        SummaryPeriod::Hourly => {
            let start = date.to_datetime(Time::new(local.hour(), 0, 0, 0).expect("an hour"));
            let next = start
                .checked_add(SignedDuration::from_hours(1))
                .expect("an hour later is a date-time");
            (start, next)
        }
        SummaryPeriod::Daily => (
            date.to_datetime(Time::midnight()),
            date.tomorrow()
                .expect("a day later is a date")
                .to_datetime(Time::midnight()),
        ),
        SummaryPeriod::Weekly => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            let monday = date
                .checked_sub(jiff::Span::new().days(back))
                .expect("the week's Monday is a date");
            let next = monday
                .checked_add(jiff::Span::new().days(7))
                .expect("a week later is a date");
            (
                monday.to_datetime(Time::midnight()),
                next.to_datetime(Time::midnight()),
            )
        }
    }
}

/// Offset changes between two instants are months apart in every zone; a handful of steps
/// covers any period, and bounds the search should a zone's data be strange.
const MAX_STEPS: usize = 8;

impl ShopZone {
    /// An IANA time zone name, or a fixed UTC offset.
    ///
    /// # Errors
    /// What the text should look like.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if let Some(offset) = parse_offset(trimmed) {
            let offset = jiff::tz::Offset::from_seconds(offset.whole_seconds())
                .expect("a UTC offset within ±14:59");
            return Ok(ShopZone {
                text: trimmed.to_owned(),
                tz: TimeZone::fixed(offset),
            });
        }
        match TimeZone::get(trimmed) {
            Ok(tz) => Ok(ShopZone {
                text: trimmed.to_owned(),
                tz,
            }),
            Err(_) => Err(format!(
                "timezone {text:?} is neither an IANA time zone name (\"Europe/London\", \
                 \"Australia/Sydney\", \"America/New_York\") nor a UTC offset (\"+13:00\", \
                 \"-05:00\", \"UTC\")"
            )),
        }
    }

    /// As configured.
    pub fn name(&self) -> &str {
        &self.text
    }

    /// The local clock at `at`.
    fn civil(&self, at: Timestamp) -> DateTime {
        self.tz.to_datetime(at)
    }

    /// `at` in the zone's offset at that moment.
    pub fn local(&self, at: OffsetDateTime) -> OffsetDateTime {
        let seconds = self.tz.to_offset(to_jiff(at)).seconds();
        let offset = time::UtcOffset::from_whole_seconds(seconds)
            .expect("a tz database offset is a UTC offset");
        at.to_offset(offset)
    }

    /// The instant the local clock shows `time` on `date` (the earlier one when it shows it
    /// twice, the instant after the gap when it skips it).
    pub fn at_local(&self, date: time::Date, time: time::Time) -> OffsetDateTime {
        let civil = DateTime::new(
            i16::try_from(date.year()).expect("a four-digit year"),
            i8::try_from(u8::from(date.month())).expect("a month"),
            i8::try_from(date.day()).expect("a day"),
            i8::try_from(time.hour()).expect("an hour"),
            i8::try_from(time.minute()).expect("a minute"),
            i8::try_from(time.second()).expect("a second"),
            0,
        )
        .expect("a valid date and time");
        to_time(
            self.tz
                .to_timestamp(civil)
                .expect("a local time near now is an instant"),
        )
    }

    /// The last offset change at or before `at`.
    fn change_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let just_after = at.checked_add(SignedDuration::from_nanos(1)).ok()?;
        self.tz
            .preceding(just_after)
            .next()
            .map(|transition| transition.timestamp())
    }

    /// The first offset change after `at`.
    fn change_after(&self, at: Timestamp) -> Option<Timestamp> {
        self.tz
            .following(at)
            .next()
            .map(|transition| transition.timestamp())
    }

    /// The period `at` falls in, `[start, end)`: the stretch around it whose local clock shows
    /// the same hour, day or week.
    pub fn period(
        &self,
        at: OffsetDateTime,
        length: SummaryPeriod,
    ) -> (OffsetDateTime, OffsetDateTime) {
        let at = to_jiff(at);
        let wanted = bucket(self.civil(at), length);
        // Back to the start: the local boundary as the offset at `cursor` places it, unless
        // the offset changed in between, in which case the change either starts the period
        // or (the clock still showing the same bucket before it) the search goes on from
        // just before it.
        let mut cursor = at;
        let mut start = at;
        for _ in 0..MAX_STEPS {
            let local = self.civil(cursor);
            let floor = cursor
                .checked_sub(civil_bounds(local, length).0.duration_until(local))
                .expect("a period start is an instant");
            match self
                .change_at_or_before(cursor)
                .filter(|change| *change >= floor)
            {
                Some(change) => {
                    let before = change
                        .checked_sub(SignedDuration::from_nanos(1))
                        .expect("an instant before a change");
                    if bucket(self.civil(before), length) == wanted {
                        cursor = before;
                        start = before;
                    } else {
                        start = change;
                        break;
                    }
                }
                None => {
                    start = floor;
                    break;
                }
            }
        }
        // Forward to the end, the same way.
        let mut cursor = at;
        let mut end = at;
        for _ in 0..MAX_STEPS {
            let local = self.civil(cursor);
            let ceiling = cursor
                .checked_add(local.duration_until(civil_bounds(local, length).1))
                .expect("a period end is an instant");
            match self
                .change_after(cursor)
                .filter(|change| *change <= ceiling)
            {
                Some(change) if bucket(self.civil(change), length) == wanted => {
                    cursor = change;
                    end = change;
                }
                Some(change) => {
                    end = change;
                    break;
                }
                None => {
                    end = ceiling;
                    break;
                }
            }
        }
        (to_time(start), to_time(end))
    }

    /// The local date and hour at which a period starts, and whether the local clock showed
    /// that time once already in an earlier period (clocks going back across a period
    /// boundary, as a two-hour change does): such a period needs a label of its own.
    pub fn period_start(&self, start: OffsetDateTime) -> (time::Date, u8, bool) {
        let start = to_jiff(start);
        let civil = self.civil(start);
        let repeated = match self.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Fold { before, after } => {
                before != after && self.tz.to_offset(start) == after
            }
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Gap { .. } => false,
        };
        let date = time::Date::from_calendar_date(
            i32::from(civil.year()),
            time::Month::try_from(u8::try_from(civil.month()).expect("a month")).expect("a month"),
            u8::try_from(civil.day()).expect("a day"),
        )
        .expect("a calendar date");
        (date, u8::try_from(civil.hour()).expect("an hour"), repeated)
    }
}
