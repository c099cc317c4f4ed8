//! Date, date-time-offset and time-of-day literals, matched character by character as
//! the ABNF spells them (`dateValue`, `dateTimeOffsetValue`, `timeOfDayValue`), so an
//! invalid literal is reported at the first character that does not fit, e.g. the `4`
//! of hour `24`.

use time::{PrimitiveDateTime, UtcOffset};

use crate::literal::{Literal, make_date, make_offset, make_time};

/// Why the text at the start is not a temporal literal Dataverse can hold.
#[derive(Debug, PartialEq)]
pub(super) enum Fault {
    /// The ABNF does not match: the character at this offset does not fit.
    Syntax(usize),
    /// The ABNF matches but names no real calendar date (`2023-02-30`).
    NoSuchDate(usize),
    /// The ABNF matches but .NET's `DateTime`, which Dataverse stores, cannot hold it.
    Unsupported(usize, &'static str),
}

/// Whether the text at `at` has the shape of a date (`[-]dddd-`, four or more year
/// digits) or of a time of day (`dd:`).
pub(super) fn looks_temporal(bytes: &[u8], at: usize) -> bool {
    let signed = bytes.get(at) == Some(&b'-');
    let from = at + usize::from(signed);
    let digits = bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let next = bytes.get(from + digits).copied();
    (digits >= 4 && next == Some(b'-')) || (!signed && digits == 2 && next == Some(b':'))
}

/// Matches a temporal literal at `start`; returns it and where it ends.
pub(super) fn temporal(bytes: &[u8], start: usize) -> Result<(Literal, usize), Fault> {
    let mut m = Cursor { bytes, at: start };
    if bytes.get(start + 2) == Some(&b':') {
        let time = m.time_of_day()?;
        return Ok((Literal::TimeOfDay(time.build()?), m.at));
    }
    let (year, month, day, day_at) = m.date()?;
    if !(1..=9999).contains(&year) {
        return Err(Fault::Unsupported(
            start,
            "years outside 0001-9999 (the range of .NET's DateTime, which Dataverse stores)",
        ));
    }
    let date = make_date(year as i32, month, day).ok_or(Fault::NoSuchDate(day_at))?;
    if !m.eat(b'T') {
        return Ok((Literal::Date(date), m.at));
    }
    let time = m.time_of_day()?.build()?;
    let offset = if m.eat(b'Z') {
        UtcOffset::UTC
    } else {
        let negative = match m.peek() {
            Some(b'+') => false,
            Some(b'-') => true,
            _ => return Err(Fault::Syntax(m.at)),
        };
        m.at += 1;
        let hours = m.hour()?;
        m.expect(b':')?;
        let minutes = m.zero_to_59()?;
        make_offset(negative, hours, minutes).ok_or(Fault::Syntax(m.at))?
    };
    let value = PrimitiveDateTime::new(date, time).assume_offset(offset);
    Ok((Literal::DateTimeOffset(value), m.at))
}

/// `hour ":" minute [ ":" second [ "." fractionalSeconds ] ]`, not yet checked for
/// what `time` can hold.
struct TimeParts<'a> {
    hour: u8,
    minute: u8,
    second: u8,
    second_at: usize,
    fraction: &'a str,
}

impl TimeParts<'_> {
    fn build(&self) -> Result<time::Time, Fault> {
        if self.second == 60 {
            return Err(Fault::Unsupported(
                self.second_at,
                "leap seconds (.NET's DateTime, which Dataverse stores, has none)",
            ));
        }
        make_time(self.hour, self.minute, self.second, self.fraction)
            .ok_or(Fault::Syntax(self.second_at))
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), Fault> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(Fault::Syntax(self.at))
        }
    }

    /// One digit within `lo..=hi`.
    fn digit(&mut self, lo: u8, hi: u8) -> Result<u8, Fault> {
        match self.peek() {
            Some(b) if (lo..=hi).contains(&b) => {
                self.at += 1;
                Ok(b - b'0')
            }
            _ => Err(Fault::Syntax(self.at)),
        }
    }

    /// `year "-" month "-" day`; returns the fields and where the day starts.
    fn date(&mut self) -> Result<(i64, u8, u8, usize), Fault> {
        // year = [ "-" ] ( "0" 3DIGIT / oneToNine 3*DIGIT )
        let negative = self.eat(b'-');
        let first = self.digit(b'0', b'9')?;
        let mut year = i64::from(first);
        let mut count = 1;
        while count < 4 || (first != 0 && self.peek().is_some_and(|b| b.is_ascii_digit())) {
            year = year.saturating_mul(10) + i64::from(self.digit(b'0', b'9')?);
            count += 1;
        }
        if negative {
            year = -year;
        }
        self.expect(b'-')?;
        // month = "0" oneToNine / "1" ( "0" / "1" / "2" )
        let month = match self.digit(b'0', b'1')? {
            0 => self.digit(b'1', b'9')?,
            _ => 10 + self.digit(b'0', b'2')?,
        };
        self.expect(b'-')?;
        // day = "0" oneToNine / ( "1" / "2" ) DIGIT / "3" ( "0" / "1" )
        let day_at = self.at;
        let day = match self.digit(b'0', b'3')? {
            0 => self.digit(b'1', b'9')?,
            3 => 30 + self.digit(b'0', b'1')?,
            tens => tens * 10 + self.digit(b'0', b'9')?,
        };
        Ok((year, month, day, day_at))
    }

    /// hour = ( "0" / "1" ) DIGIT / "2" ( "0" / "1" / "2" / "3" )
    fn hour(&mut self) -> Result<u8, Fault> {
        match self.digit(b'0', b'2')? {
            2 => Ok(20 + self.digit(b'0', b'3')?),
            tens => Ok(tens * 10 + self.digit(b'0', b'9')?),
        }
    }

    fn zero_to_59(&mut self) -> Result<u8, Fault> {
        Ok(self.digit(b'0', b'5')? * 10 + self.digit(b'0', b'9')?)
    }

    fn time_of_day(&mut self) -> Result<TimeParts<'a>, Fault> {
        let hour = self.hour()?;
        self.expect(b':')?;
        let minute = self.zero_to_59()?;
        let mut parts = TimeParts {
            hour,
            minute,
            second: 0,
            second_at: self.at,
            fraction: "",
        };
        if !self.eat(b':') {
            return Ok(parts);
        }
        parts.second_at = self.at;
        // second = zeroToFiftyNine / "60"
        parts.second = if self.peek() == Some(b'6') {
            self.at += 1;
            60 + self.digit(b'0', b'0')?
        } else {
            self.zero_to_59()?
        };
        if self.peek() == Some(b'.') {
            // fractionalSeconds = 1*12DIGIT
            self.at += 1;
            let from = self.at;
            while self.at - from < 12 && self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.at += 1;
            }
            if self.at == from {
                return Err(Fault::Syntax(self.at));
            }
            parts.fraction = std::str::from_utf8(&self.bytes[from..self.at]).unwrap_or("");
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(text: &str) -> Fault {
        temporal(text.as_bytes(), 0).unwrap_err()
    }

    #[test]
    fn faults_point_at_the_first_character_that_does_not_fit() {
        assert_eq!(fault("2011-12-31T24:00Z"), Fault::Syntax(12));
        assert_eq!(fault("24:00:00"), Fault::Syntax(1));
        assert_eq!(fault("2012-09-03T23%3A59Z"), Fault::Syntax(13));
        assert_eq!(fault("2024-13-01"), Fault::Syntax(6));
        assert_eq!(fault("2024-02-30"), Fault::NoSuchDate(8));
    }

    #[test]
    fn valid_but_out_of_dotnet_range() {
        assert!(matches!(
            fault("-10000-04-01T00:00Z"),
            Fault::Unsupported(0, _)
        ));
        assert!(matches!(
            fault("1972-06-30T23:59:60Z"),
            Fault::Unsupported(17, _)
        ));
        assert!(looks_temporal(b"-10000-04-01", 0));
        assert!(!looks_temporal(b"-12:00", 0));
    }
}
