//! Time-zone rules for named zones. In the sandbox they come from the host
//! (the contract's `time-zones` import), so a plugin carries no database;
//! natively (a plugin's unit tests) from jiff's bundled copy.

use crate::civil::{Date, Time};

/// The instant at which the clocks of `zone` show `date` at `time`; a time
/// skipped by a daylight-saving jump moves forward, a repeated one takes
/// its first instant. `None` for an unknown zone or an impossible date.
pub fn instant_of(zone: &str, date: Date, time: Time) -> Option<i64> {
    imp::instant_of(zone, date, time)
}

/// The date the clocks of `zone` show at `instant`.
pub fn date_at(zone: &str, instant: i64) -> Option<Date> {
    imp::date_at(zone, instant)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::__private::bindings::accounts::auth::time_zones::{self, CivilTime};
    use crate::civil::{Date, Time};

    pub fn instant_of(zone: &str, date: Date, time: Time) -> Option<i64> {
        let civil = CivilTime {
            year: i16::try_from(date.year).ok()?,
            month: date.month,
            day: date.day,
            hour: time.hour,
            minute: time.minute,
            second: 0,
        };
        time_zones::instant_of(zone, civil)
    }

    pub fn date_at(zone: &str, instant: i64) -> Option<Date> {
        let civil = time_zones::civil_at(zone, instant)?;
        Date::new(i32::from(civil.year), civil.month, civil.day)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::civil::{Date, Time};

    pub fn instant_of(zone: &str, date: Date, time: Time) -> Option<i64> {
        let zone = jiff::tz::TimeZone::get(zone).ok()?;
        let dt = jiff::civil::DateTime::new(
            i16::try_from(date.year).ok()?,
            date.month as i8,
            date.day as i8,
            time.hour as i8,
            time.minute as i8,
            0,
            0,
        )
        .ok()?;
        Some(dt.to_zoned(zone).ok()?.timestamp().as_second())
    }

    pub fn date_at(zone: &str, instant: i64) -> Option<Date> {
        let zone = jiff::tz::TimeZone::get(zone).ok()?;
        let date = jiff::Timestamp::from_second(instant).ok()?.to_zoned(zone).date();
        Date::new(i32::from(date.year()), date.month() as u8, date.day() as u8)
    }
}
