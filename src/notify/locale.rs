//! Who reads a message, and where: the language of its fixed wording (`lang`: en, he, fa, ru,
//! ar; the words are in [`super::words`]) and the time zone its times are shown in
//! (`timezone`: an IANA name such as `Asia/Jerusalem`, from the time zone database embedded
//! in the binary, so a machine without `tzdata` shows the same times). Pure.

use crate::time::Millis;
use jiff::tz::TimeZone;

pub use crate::ingest::lang::Lang;

/// A configured `lang`: exactly one of the codes (`en`, `he`, `fa`, `ru`, `ar`).
pub fn parse_lang(code: &str) -> Option<Lang> {
    Lang::ALL.into_iter().find(|l| l.code() == code)
}

/// A receiver's reader: language and time zone.
#[derive(Debug, Clone)]
pub struct Locale {
    /// The language of the fixed wording.
    pub lang: Lang,
    /// The time zone of the times shown.
    pub zone: TimeZone,
    /// Its IANA name (`UTC` by default), shown with the times.
    pub zone_name: String,
}

impl Default for Locale {
    fn default() -> Self {
        Locale { lang: Lang::En, zone: TimeZone::UTC, zone_name: "UTC".into() }
    }
}

impl PartialEq for Locale {
    fn eq(&self, other: &Self) -> bool {
        self.lang == other.lang && self.zone_name == other.zone_name
    }
}

/// Looks up an IANA time zone name (`UTC`, `Asia/Jerusalem`, `Europe/Moscow`, `Asia/Tehran`).
///
/// # Errors
/// The name is not in the time zone database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    jiff::tz::db().get(name).map_err(|_| format!("`{name}` is not an IANA time zone name (like \"Asia/Jerusalem\")"))
}

impl Locale {
    /// A locale from a language code and a zone name.
    ///
    /// # Errors
    /// The code or the zone is unknown (the message says which and what is allowed).
    pub fn new(lang: &str, zone_name: &str) -> Result<Locale, String> {
        let lang = parse_lang(lang)
            .ok_or_else(|| format!("`lang`: `{lang}` is not one of \"en\", \"he\", \"fa\", \"ru\", \"ar\""))?;
        Ok(Locale { lang, zone: zone(zone_name)?, zone_name: zone_name.to_string() })
    }

    fn zoned(&self, ms: Millis) -> Option<jiff::Zoned> {
        Some(jiff::Timestamp::from_millisecond(ms).ok()?.to_zoned(self.zone.clone()))
    }

    /// `2026-03-04 12:26`, in this zone.
    pub fn wall(&self, ms: Millis) -> String {
        self.zoned(ms).map(|z| z.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    }

    /// `12:26`, in this zone.
    pub fn clock(&self, ms: Millis) -> String {
        self.zoned(ms).map(|z| z.strftime("%H:%M").to_string()).unwrap_or_default()
    }

    /// The zone as shown after times: `UTC`, or `Asia/Jerusalem, UTC+02:00` (the offset in
    /// force at `ms`).
    pub fn zone_label(&self, ms: Millis) -> String {
        if self.zone_name == "UTC" {
            return "UTC".into();
        }
        let offset = self.zoned(ms).map(|z| z.strftime("%:z").to_string()).unwrap_or_default();
        format!("{}, UTC{offset}", self.zone_name)
    }

    /// `2026-03-04 12:26 (Asia/Jerusalem, UTC+02:00)`, or `2026-03-04 10:26 UTC`.
    pub fn time(&self, ms: Millis) -> String {
        if self.zone_name == "UTC" {
            return format!("{} UTC", self.wall(ms));
        }
        format!("{} ({})", self.wall(ms), self.zone_label(ms))
    }

    /// The minute of the day (0..1440) at `ms` in this zone.
    pub fn minute_of_day(&self, ms: Millis) -> u32 {
        self.zoned(ms).map_or(0, |z| u32::from(z.hour() as u8) * 60 + u32::from(z.minute() as u8))
    }

    /// An RFC 3339 timestamp as [`Locale::time`], or the text itself when it is not one.
    pub fn time_of(&self, rfc3339: &str) -> String {
        match crate::time::parse_timestamp(rfc3339) {
            Ok(ms) => self.time(ms),
            Err(_) => rfc3339.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        crate::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn times_in_the_zone_with_the_zone_shown_and_daylight_saving_followed() {
        let jlm = Locale::new("he", "Asia/Jerusalem").unwrap();
        // winter: UTC+2; summer (after the last Friday of March): UTC+3
        assert_eq!(jlm.time(at("2026-03-04T10:26:00Z")), "2026-03-04 12:26 (Asia/Jerusalem, UTC+02:00)");
        assert_eq!(jlm.time(at("2026-07-01T10:26:00Z")), "2026-07-01 13:26 (Asia/Jerusalem, UTC+03:00)");
        assert_eq!(Locale::default().time(at("2026-03-04T10:26:00Z")), "2026-03-04 10:26 UTC");
        let teh = Locale::new("fa", "Asia/Tehran").unwrap();
        assert_eq!(teh.clock(at("2026-03-04T22:00:00Z")), "01:30");
        assert_eq!(teh.minute_of_day(at("2026-03-04T22:00:00Z")), 90);
        assert_eq!(teh.wall(at("2026-03-04T22:00:00Z")), "2026-03-05 01:30", "the next day there");
        assert_eq!(jlm.time_of("not a time"), "not a time");
    }

    #[test]
    fn unknown_languages_and_zones_are_refused_with_what_is_allowed() {
        let e = Locale::new("de", "UTC").unwrap_err();
        assert!(e.contains("`de`") && e.contains("\"fa\""), "{e}");
        let e = Locale::new("ru", "Moscow").unwrap_err();
        assert!(e.contains("`Moscow`") && e.contains("IANA"), "{e}");
        assert!(Locale::new("ru", "Europe/Moscow").is_ok());
        assert!(Lang::He.is_rtl() && Lang::Ar.is_rtl() && Lang::Fa.is_rtl() && !Lang::Ru.is_rtl());
    }
}
