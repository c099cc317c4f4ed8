//! The text inside a geo literal (`geography'SRID=0;Point(142.1 64.1)'`, `geometry'...'`):
//! the ABNF's `fullCollectionLiteral` / `fullPointLiteral` / ... rules. Dataverse has no
//! spatial types, so a valid one is refused as unsupported by the parser; this module
//! only says where an invalid one stops matching (the furthest character any
//! alternative reads), with a budget on `GeometryCollection(` nesting.

/// Most nested `GeometryCollection(` levels read before the text is refused.
const MAX_NESTING: usize = 32;

/// The shape a geo literal's text spells (the `geoLiteral` alternative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeoKind {
    Collection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
}

/// Where a geo text stops matching, and what was expected there.
pub(crate) type GeoError = (usize, &'static str);

/// The alternatives of `geoLiteral`, each with the text that starts it.
const SHAPES: &[(&str, GeoKind)] = &[
    ("GeometryCollection(", GeoKind::Collection),
    ("LineString", GeoKind::LineString),
    ("MultiLineString(", GeoKind::MultiLineString),
    ("MultiPoint(", GeoKind::MultiPoint),
    ("MultiPolygon(", GeoKind::MultiPolygon),
    ("Point", GeoKind::Point),
    ("Polygon", GeoKind::Polygon),
];

/// Checks `sridLiteral geoLiteral` (the text between the quotes), returning its shape.
pub(crate) fn check(text: &str) -> Result<GeoKind, GeoError> {
    let mut cur = Cursor {
        b: text.as_bytes(),
        at: 0,
    };
    cur.srid()?;
    let kind = cur.geo_literal(0)?;
    match cur.at == cur.b.len() {
        true => Ok(kind),
        false => Err((cur.at, "the closing quote of the geo literal")),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// How many bytes of `word` (case-insensitive, as ABNF strings are) match here.
    fn matched(&self, word: &str) -> usize {
        word.bytes()
            .zip(&self.b[self.at..])
            .take_while(|(w, b)| w.eq_ignore_ascii_case(b))
            .count()
    }

    fn word(&mut self, word: &str, what: &'static str) -> Result<(), GeoError> {
        let n = self.matched(word);
        if n < word.len() {
            return Err((self.at + n, what));
        }
        self.at += n;
        Ok(())
    }

    fn byte(&mut self, c: u8, what: &'static str) -> Result<(), GeoError> {
        match self.peek() == Some(c) {
            true => {
                self.at += 1;
                Ok(())
            }
            false => Err((self.at, what)),
        }
    }

    /// `sridLiteral = "SRID" EQ 1*5DIGIT SEMI`
    fn srid(&mut self) -> Result<(), GeoError> {
        self.word("SRID=", "'SRID=' in the geo literal")?;
        let digits = self.digits();
        if digits == 0 {
            return Err((self.at, "the SRID's digits"));
        }
        if digits > 5 {
            // 1*5DIGIT reads five, then SEMI is expected.
            return Err((self.at - digits + 5, "';' after at most 5 SRID digits"));
        }
        self.byte(b';', "';' after the SRID")
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.at += n;
        n
    }

    /// `geoLiteral`: one of [`SHAPES`] and its data.
    fn geo_literal(&mut self, depth: usize) -> Result<GeoKind, GeoError> {
        let best = SHAPES
            .iter()
            .map(|(word, kind)| (self.matched(word), *word, *kind))
            .max_by_key(|(n, word, _)| (*n, *n == word.len()));
        let Some((n, word, kind)) = best.filter(|(n, word, _)| *n == word.len()) else {
            let furthest = best.map_or(0, |(n, ..)| n);
            return Err((self.at + furthest, "a geo shape (Point, LineString, ...)"));
        };
        self.at += n;
        match kind {
            GeoKind::Collection => {
                if depth >= MAX_NESTING {
                    return Err((self.at - word.len(), "fewer nested GeometryCollections"));
                }
                self.list(true, |c| c.geo_literal(depth + 1).map(|_| ()))?;
            }
            GeoKind::LineString => self.line_string_data()?,
            GeoKind::Point => self.point_data()?,
            GeoKind::Polygon => self.polygon_data()?,
            GeoKind::MultiLineString => self.list(false, Self::line_string_data)?,
            GeoKind::MultiPoint => self.list(false, Self::point_data)?,
            GeoKind::MultiPolygon => self.list(false, Self::polygon_data)?,
        }
        Ok(kind)
    }

    /// `item *( COMMA item ) CLOSE` after an already read `(`; the list may be empty
    /// unless `one_or_more`.
    fn list(
        &mut self,
        one_or_more: bool,
        mut item: impl FnMut(&mut Self) -> Result<(), GeoError>,
    ) -> Result<(), GeoError> {
        if !one_or_more && self.peek() == Some(b')') {
            self.at += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                _ => return self.byte(b')', "',' or ')'"),
            }
        }
    }

    /// `pointData = OPEN positionLiteral CLOSE`
    fn point_data(&mut self) -> Result<(), GeoError> {
        self.byte(b'(', "'('")?;
        self.position()?;
        self.byte(b')', "')'")
    }

    /// `lineStringData = OPEN positionLiteral 1*( COMMA positionLiteral ) CLOSE`
    fn line_string_data(&mut self) -> Result<(), GeoError> {
        self.byte(b'(', "'('")?;
        self.position()?;
        self.byte(b',', "',' and a second position")?;
        self.list(true, Self::position)
    }

    /// `polygonData = OPEN ringLiteral *( COMMA ringLiteral ) CLOSE`, where
    /// `ringLiteral = OPEN positionLiteral *( COMMA positionLiteral ) CLOSE`.
    fn polygon_data(&mut self) -> Result<(), GeoError> {
        self.byte(b'(', "'('")?;
        self.list(true, |c| {
            c.byte(b'(', "'('")?;
            c.list(true, Self::position)
        })
    }

    /// `positionLiteral = doubleValue SP doubleValue [ SP doubleValue ] [ SP doubleValue ]`
    fn position(&mut self) -> Result<(), GeoError> {
        self.double()?;
        self.byte(b' ', "a space and the second coordinate")?;
        self.double()?;
        for _ in 0..2 {
            if self.peek() != Some(b' ') {
                break;
            }
            self.at += 1;
            self.double()?;
        }
        Ok(())
    }

    /// `doubleValue = ["+"/"-"] 1*DIGIT [ "." 1*DIGIT ] [ "e" ["+"/"-"] 1*DIGIT ] / nanInfinity`
    fn double(&mut self) -> Result<(), GeoError> {
        for special in ["NaN", "-INF", "INF"] {
            if self.b[self.at..].starts_with(special.as_bytes()) {
                self.at += special.len();
                return Ok(());
            }
        }
        const WHAT: &str = "a number (doubleValue)";
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.at += 1;
        }
        if self.digits() == 0 {
            return Err((self.at, WHAT));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err((self.at, WHAT));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err((self.at, WHAT));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{GeoKind, check};

    #[test]
    fn shapes() {
        assert_eq!(check("SRID=0;Point(142.1 64.1)"), Ok(GeoKind::Point));
        assert_eq!(check("srid=4326;point(1 2 3 -4e5)"), Ok(GeoKind::Point));
        assert_eq!(check("SRID=0;MultiPoint()"), Ok(GeoKind::MultiPoint));
        assert_eq!(
            check("SRID=0;MultiPolygon(((1 1,1 1),(1 1,2 2,3 3,1 1)))"),
            Ok(GeoKind::MultiPolygon)
        );
        assert_eq!(
            check("SRID=0;GeometryCollection(Point(1 2),GeometryCollection(LineString(1 2,3 4)))"),
            Ok(GeoKind::Collection)
        );
    }

    #[test]
    fn where_it_stops() {
        assert_eq!(check("SRID=0;Point(1)").map_err(|e| e.0), Err(14));
        assert_eq!(check("SRID=123456;Point(1 2)").map_err(|e| e.0), Err(10));
        assert_eq!(check("SRID=0;LineString(1 2)").map_err(|e| e.0), Err(21));
        assert_eq!(check("SRID=0;Poing(1 2)").map_err(|e| e.0), Err(11));
        assert_eq!(check("SRID=0;Point(1. 2)").map_err(|e| e.0), Err(15));
        assert_eq!(check("SRID=0;Point(1 2))").map_err(|e| e.0), Err(17));
        assert_eq!(
            check("SRID=0;GeometryCollection()").map_err(|e| e.0),
            Err(26)
        );
        let deep = format!(
            "SRID=0;{}Point(1 2){}",
            "GeometryCollection(".repeat(40),
            ")".repeat(40)
        );
        assert_eq!(check(&deep).map_err(|e| e.0), Err(7 + 19 * 32));
    }
}
