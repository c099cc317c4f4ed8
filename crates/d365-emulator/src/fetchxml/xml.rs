//! The FetchXML document reader: XML text into a [`Fetch`]. Only the shape is checked here;
//! names and values are checked against the model when the query is planned
//! (`query::fetch`).

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::fetch::{Attributes, Condition, Fetch, FetchError, Filter, Link, MAX_DEPTH, Order};

/// A generic element tree: FetchXML documents are small, so parse first, interpret after.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<String, FetchError> {
        self.attr(name).map(str::to_owned).ok_or_else(|| {
            FetchError(format!(
                "The '{}' element requires a '{name}' attribute.",
                self.name
            ))
        })
    }

    fn flag(&self, name: &str) -> Result<bool, FetchError> {
        match self.attr(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(v) => Err(FetchError(format!(
                "The '{name}' attribute of '{}' must be true or false, not '{v}'.",
                self.name
            ))),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, FetchError> {
        self.attr(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    FetchError(format!(
                        "The '{name}' attribute of '{}' must be a number, not '{v}'.",
                        self.name
                    ))
                })
            })
            .transpose()
    }
}

fn attributes_of(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, FetchError> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|err| FetchError(format!("The FetchXML is not valid XML: {err}")))?;
            let key = AsRef::<str>::as_ref(&a.key.local_name()).to_owned();
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| FetchError(format!("The FetchXML is not valid XML: {err}")))?
                .into_owned();
            Ok((key, value))
        })
        .collect()
}

fn tree(text: &str) -> Result<Element, FetchError> {
    let mut reader = quick_xml::Reader::from_str(text);

    let mut stack: Vec<Element> = vec![Element::default()];
    let invalid = |m: String| FetchError(format!("The FetchXML is not valid XML: {m}"));
    loop {
        match reader.read_event().map_err(|e| invalid(e.to_string()))? {
            Event::Start(_) if stack.len() > MAX_DEPTH => {
                return Err(FetchError(format!(
                    "The FetchXML nests elements more than {MAX_DEPTH} deep."
                )));
            }
            Event::Start(e) => stack.push(Element {
                name: AsRef::<str>::as_ref(&e.local_name()).to_owned(),
                attrs: attributes_of(&e)?,
                ..Element::default()
            }),
            Event::Empty(e) => {
                let element = Element {
                    name: AsRef::<str>::as_ref(&e.local_name()).to_owned(),
                    attrs: attributes_of(&e)?,
                    ..Element::default()
                };
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            // `&amp;`, `&#233;`: the reader hands entity references over separately.
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| invalid(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(
                        &r.xml_content(XmlVersion::Implicit1_0),
                    )
                    .ok_or_else(|| invalid("an unknown entity reference".into()))?
                    .to_owned(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| invalid("unbalanced tags".into()))?;
                stack
                    .last_mut()
                    .ok_or_else(|| invalid("unbalanced tags".into()))?
                    .children
                    .push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack
        .pop()
        .filter(|_| stack.is_empty())
        .ok_or_else(|| invalid("an element is not closed".into()))?;
    match root.children.len() {
        1 => Ok(root.children.remove(0)),
        _ => Err(invalid("expected one <fetch> element".into())),
    }
}

fn unknown(element: &Element, parent: &str) -> FetchError {
    FetchError(format!(
        "The element '{}' is not allowed in '{parent}'.",
        element.name
    ))
}

fn order(e: &Element) -> Result<Order, FetchError> {
    if e.attr("alias").is_some() && e.attr("attribute").is_none() {
        return Err(FetchError(
            "Ordering by an aggregate alias is not supported by the emulator yet.".into(),
        ));
    }
    Ok(Order {
        attribute: e.required("attribute")?,
        descending: e.flag("descending")?,
    })
}

fn filter(e: &Element) -> Result<Filter, FetchError> {
    let or = match e.attr("type") {
        None | Some("and") => false,
        Some("or") => true,
        Some(other) => {
            return Err(FetchError(format!(
                "The filter type '{other}' is not valid; use 'and' or 'or'."
            )));
        }
    };
    let mut out = Filter {
        or,
        ..Filter::default()
    };
    for child in &e.children {
        match child.name.as_str() {
            "condition" => {
                let mut values: Vec<String> =
                    child.attr("value").map(str::to_owned).into_iter().collect();
                for v in &child.children {
                    if v.name != "value" {
                        return Err(unknown(v, "condition"));
                    }
                    values.push(v.text.trim().to_owned());
                }
                out.conditions.push(Condition {
                    attribute: child.required("attribute")?,
                    operator: child.required("operator")?,
                    values,
                    entity_name: child.attr("entityname").map(str::to_owned),
                });
            }
            "filter" => out.filters.push(filter(child)?),
            _ => return Err(unknown(child, "filter")),
        }
    }
    Ok(out)
}

/// Several `<filter>` children of one element are combined with `and`.
fn and(filters: Vec<Filter>) -> Option<Filter> {
    match filters.len() {
        0 => None,
        1 => filters.into_iter().next(),
        _ => Some(Filter {
            or: false,
            conditions: Vec::new(),
            filters,
        }),
    }
}

/// The children of `<entity>` and `<link-entity>`.
struct Body {
    attributes: Attributes,
    orders: Vec<Order>,
    filter: Option<Filter>,
    links: Vec<Link>,
}

fn body(e: &Element) -> Result<Body, FetchError> {
    let mut attributes = Attributes::None;
    let mut orders = Vec::new();
    let mut filters = Vec::new();
    let mut links = Vec::new();
    for child in &e.children {
        match child.name.as_str() {
            "all-attributes" => attributes = Attributes::All,
            "attribute" => {
                if child.attr("aggregate").is_some() || child.attr("groupby").is_some() {
                    return Err(FetchError(
                        "Aggregate FetchXML is not supported by the emulator yet.".into(),
                    ));
                }
                let name = child.required("name")?;
                match &mut attributes {
                    Attributes::All => {}
                    Attributes::Named(names) => names.push(name),
                    Attributes::None => attributes = Attributes::Named(vec![name]),
                }
            }
            "order" => orders.push(order(child)?),
            "filter" => filters.push(filter(child)?),
            "link-entity" => {
                let inner = body(child)?;
                let outer = match child.attr("link-type") {
                    None | Some("inner") => false,
                    Some("outer") => true,
                    Some(other) => {
                        return Err(FetchError(format!(
                            "The link-type '{other}' is not supported by the emulator yet; use 'inner' or 'outer'."
                        )));
                    }
                };
                links.push(Link {
                    name: child.required("name")?,
                    from: child.required("from")?,
                    to: child.required("to")?,
                    alias: child.attr("alias").map(str::to_owned),
                    outer,
                    attributes: inner.attributes,
                    filter: inner.filter,
                    orders: inner.orders,
                    links: inner.links,
                });
            }
            _ => return Err(unknown(child, &e.name)),
        }
    }
    Ok(Body {
        attributes,
        orders,
        filter: and(filters),
        links,
    })
}

/// Parses a FetchXML document.
///
/// ```
/// # use d365_emulator::fetchxml::{parse, Attributes};
/// let f = parse(r#"<fetch count="10"><entity name="account"><attribute name="name"/>
///   <filter><condition attribute="statecode" operator="eq" value="0"/></filter></entity></fetch>"#).unwrap();
/// assert_eq!(f.entity, "account");
/// assert_eq!(f.attributes, Attributes::Named(vec!["name".into()]));
/// assert_eq!(f.count, Some(10));
/// ```
pub fn parse(text: &str) -> Result<Fetch, FetchError> {
    let root = tree(text)?;
    if root.name != "fetch" {
        return Err(FetchError(format!(
            "The root element must be 'fetch', not '{}'.",
            root.name
        )));
    }
    let [entity] = root.children.as_slice() else {
        return Err(FetchError(
            "The 'fetch' element must contain exactly one 'entity' element.".into(),
        ));
    };
    if entity.name != "entity" {
        return Err(unknown(entity, "fetch"));
    }
    let body = body(entity)?;
    let fetch = Fetch {
        entity: entity.required("name")?,
        attributes: body.attributes,
        orders: body.orders,
        filter: body.filter,
        links: body.links,
        top: root.number("top")?,
        count: root.number("count")?,
        page: root.number("page")?,
        paging_cookie: root
            .attr("paging-cookie")
            .map(str::to_owned)
            .filter(|c| !c.is_empty()),
        total_count: root.flag("returntotalrecordcount")?,
        aggregate: root.flag("aggregate")?,
    };
    if fetch.aggregate {
        return Err(FetchError(
            "Aggregate FetchXML is not supported by the emulator yet.".into(),
        ));
    }
    if fetch.top.is_some() && (fetch.count.is_some() || fetch.page.is_some()) {
        return Err(FetchError(
            "The 'top' attribute can't be specified with paging attribute 'page' or 'count'."
                .into(),
        ));
    }
    if fetch.page == Some(0) {
        return Err(FetchError("The 'page' attribute starts at 1.".into()));
    }
    Ok(fetch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_part() {
        let f = parse(
            r#"<fetch version="1.0" count="7" page="2" paging-cookie="&lt;cookie page=&quot;1&quot;&gt;&lt;accountid last=&quot;{A}&quot; /&gt;&lt;/cookie&gt;" returntotalrecordcount="true">
              <entity name="account">
                <attribute name="name" /><attribute name="revenue" />
                <order attribute="name" descending="true" />
                <filter type="or">
                  <condition attribute="name" operator="like" value="C%" />
                  <condition attribute="industrycode" operator="in"><value>7</value><value> 20 </value></condition>
                  <condition attribute="name" operator="in"><value>A &amp; B</value></condition>
                  <filter><condition attribute="revenue" operator="null" /></filter>
                </filter>
                <link-entity name="contact" from="contactid" to="primarycontactid" alias="pc" link-type="outer">
                  <attribute name="fullname" />
                </link-entity>
              </entity>
            </fetch>"#,
        )
        .unwrap();
        assert_eq!(f.page, Some(2));
        assert_eq!(
            f.paging_cookie.as_deref(),
            Some(r#"<cookie page="1"><accountid last="{A}" /></cookie>"#)
        );
        assert!(f.total_count);
        let filter = f.filter.unwrap();
        assert!(filter.or);
        assert_eq!(filter.conditions[1].values, ["7", "20"]);
        assert_eq!(filter.conditions[2].values, ["A & B"]);
        assert_eq!(filter.filters[0].conditions[0].operator, "null");
        assert_eq!(f.links[0].alias.as_deref(), Some("pc"));
        assert!(f.links[0].outer);
        assert_eq!(
            f.orders[0],
            Order {
                attribute: "name".into(),
                descending: true
            }
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (bad, why) in [
            ("<fetch><entity name='account'>", "not closed"),
            (
                "<fetch top='5' count='5'><entity name='account'/></fetch>",
                "'top'",
            ),
            (
                "<fetch><entity name='account'><filter type='xor'/></entity></fetch>",
                "'xor'",
            ),
            (
                "<fetch><entity name='account'><bogus/></entity></fetch>",
                "'bogus'",
            ),
            ("<fetch><entity/></fetch>", "'name'"),
            ("<query/>", "'fetch'"),
            ("<fetch count='ten'><entity name='a'/></fetch>", "number"),
            (
                &format!(
                    "<fetch><entity name='a'>{}{}</entity></fetch>",
                    "<filter>".repeat(5000),
                    "</filter>".repeat(5000)
                ),
                "deep",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }
}
