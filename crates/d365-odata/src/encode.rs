//! Percent-encoding of printed URL text, one set per place in the URL: both keep what is
//! not allowed raw in a URL (space, `" # % < > [ \ ] ^ ` { | }`, controls, non-ASCII) encoded,
//! and each adds what would change meaning where it stands.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What no printed URL text holds raw.
const NOT_IN_URL: AsciiSet = CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters encoded in printed path segments: also `/` (so keys cannot split the path)
/// and `?`.
pub(crate) const PATH_SEGMENT: &AsciiSet = &NOT_IN_URL.add(b'/').add(b'?');

/// Characters percent-encoded in printed query names and values: also those that would
/// change meaning under form decoding or query splitting (`& + =`). Kept readable:
/// `$ ' ( ) , / : @ * ; ! ? - . _ ~`.
const QUERY_VALUE: &AsciiSet = &NOT_IN_URL.add(b'&').add(b'+').add(b'=');

/// Percent-encodes a query option's name or value, or a parameter alias's value, as the
/// query builder prints them: OData punctuation stays readable, `% & + # =`, space and
/// non-ASCII are encoded.
///
/// ```
/// assert_eq!(
///     d365_odata::encode_query_value("name eq 'A&B=C' and x/y ge 1"),
///     "name%20eq%20'A%26B%3DC'%20and%20x/y%20ge%201"
/// );
/// ```
pub fn encode_query_value(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_odata_punctuation_readable() {
        assert_eq!(
            encode_query_value("a eq 'x&y+z#%=' and @p/$c:(1,2);*é"),
            "a%20eq%20'x%26y%2Bz%23%25%3D'%20and%20@p/$c:(1,2);*%C3%A9"
        );
    }
}
