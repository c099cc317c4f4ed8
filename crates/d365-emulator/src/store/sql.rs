//! SQL text every file of the store (and the query planner) writes the same way. It uses no
//! other file of the store, so `schema`, `changes` and the rest can all use it.

/// Quotes an identifier for SQL. Names come from the model, never from a request.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(ident("account"), "\"account\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
