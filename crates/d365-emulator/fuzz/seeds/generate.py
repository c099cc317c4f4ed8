#!/usr/bin/env python3
"""Writes the seed corpus of every target (run from this folder): valid inputs plus the
hostile ones of issue 13 (self-referencing aliases, 10,000-deep parentheses, 2,800-deep
$expand, deep FetchXML, QueryExpression and batch inputs)."""
import json, os

def seed(target, name, text):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "w", newline="") as f:
        f.write(text)

def nest(open_, inner, close, n):
    return open_ * n + inner + close * n

# $filter with aliases: the whole query string.
seed("http_filter", "self_alias", "$filter=@p1&@p1=not @p1")
seed("http_filter", "self_alias_or", "$filter=@p1&@p1=name eq 'x' or @p1")
seed("http_filter", "alias_chain", "$filter=@a1&" + "&".join(f"@a{i}=@a{i+1} or @a{i+1}" for i in range(1, 30)) + "&@a30=name eq 'x'")
seed("http_filter", "alias_cycle", "$filter=@a&@a=@b and name eq 'x'&@b=@a")
seed("http_filter", "deep_parens", "$filter=" + nest("(", "name eq 'x'", ")", 10000))
seed("http_filter", "deep_not", "$filter=" + "not " * 5000 + "(name eq 'x')")
seed("http_filter", "deep_orderby", "$orderby=" + nest("tolower(", "name", ")", 3000))
seed("http_filter", "normal", "$select=name,revenue&$filter=contains(name,'a') and revenue gt 10&$orderby=name desc&$top=3&$count=true")
seed("http_filter", "lambda", "$filter=contact_customer_accounts/any(c:c/fullname eq 'x')&$top=2")

# $expand value.
seed("http_expand", "deep_expand", nest("primarycontactid($expand=", "primarycontactid", ")", 2800))
seed("http_expand", "deep_expand_a", nest("a($expand=", "a", ")", 2800))
seed("http_expand", "nested", "primarycontactid($select=fullname;$expand=parentcustomerid_account($select=name)),contact_customer_accounts($select=fullname;$top=2;$orderby=fullname desc)")
seed("http_expand", "filter_in_expand", "contact_customer_accounts($filter=" + nest("(", "statecode eq 0", ")", 3000) + ")")

# $apply value.
seed("http_apply", "groupby", "groupby((statecode),aggregate($count as count))")
seed("http_apply", "filter_groupby", "filter(statecode eq 0)/groupby((industrycode),aggregate(revenue with sum as total,$count as n))")
seed("http_apply", "deep_filter", "filter(" + nest("(", "name eq 'x'", ")", 10000) + ")")
seed("http_apply", "deep_groupby", nest("groupby((name),", "aggregate($count as n)", ")", 3000))
seed("http_apply", "chain", "/".join(["filter(statecode eq 0)"] * 1000))

# ?sql= value.
seed("http_sql", "deep_parens", "SELECT name FROM account WHERE " + nest("(", "name='x'", ")", 10000))
seed("http_sql", "normal", "SELECT TOP 5 name, revenue FROM account WHERE revenue > 10 AND name LIKE 'A%' ORDER BY name DESC")
seed("http_sql", "join", "SELECT a.name, c.fullname FROM account a JOIN contact c ON c.parentcustomerid = a.accountid WHERE NOT (a.name = 'x' OR a.name IN ('y','z'))")
seed("http_sql", "deep_not", "SELECT name FROM account WHERE " + "NOT " * 5000 + "name='x'")

# fetchXml value.
fetch = lambda inner: f"<fetch><entity name='account'><attribute name='name'/>{inner}</entity></fetch>"
cond = "<condition attribute='name' operator='eq' value='x'/>"
seed("http_fetchxml", "normal", "<fetch top='3'><entity name='account'><attribute name='name'/><order attribute='name' descending='true'/><filter type='or'>" + cond + "<condition attribute='revenue' operator='gt' value='10'/></filter><link-entity name='contact' from='parentcustomerid' to='accountid' alias='c' link-type='outer'><attribute name='fullname'/></link-entity></entity></fetch>")
seed("http_fetchxml", "deep_filter", fetch(nest("<filter>", cond, "</filter>", 1000)))
seed("http_fetchxml", "deep_link", fetch(nest("<link-entity name='contact' from='parentcustomerid' to='accountid'>", "", "</link-entity>", 500)))
seed("http_fetchxml", "deep_unknown", fetch(nest("<x>", "", "</x>", 2000)))

# QueryExpression (JSON).
def qe_filter(depth):
    f = {"FilterOperator": "And", "Conditions": [{"AttributeName": "name", "Operator": "Equal", "Values": [{"Value": "x", "Type": "System.String"}]}]}
    for _ in range(depth):
        f = {"FilterOperator": "Or", "Filters": [f]}
    return f
normal_qe = {"@odata.type": "Microsoft.Dynamics.CRM.QueryExpression", "EntityName": "account",
             "ColumnSet": {"AllColumns": False, "Columns": ["name"]},
             "Criteria": {"FilterOperator": "And", "Conditions": [{"AttributeName": "statecode", "Operator": "Equal", "Values": [{"Value": "0", "Type": "System.Int32"}]}]},
             "LinkEntities": [{"LinkFromEntityName": "account", "LinkToEntityName": "contact", "LinkFromAttributeName": "accountid", "LinkToAttributeName": "parentcustomerid", "JoinOperator": "Inner"}]}
seed("http_query_expression", "normal", json.dumps(normal_qe))
seed("http_query_expression", "deep_filters", json.dumps({"EntityName": "account", "Criteria": qe_filter(60)}))
seed("http_query_expression", "deep_json", "[" * 20000)
seed("parse_query_expression", "normal", json.dumps(normal_qe))
seed("parse_query_expression", "deep_filters", json.dumps({"EntityName": "account", "Criteria": qe_filter(60)}))

# $batch bodies (boundary batch_fz).
def part(method, url, body=None, cid=None):
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if cid:
        lines.append(f"Content-ID: {cid}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json", "", body]
    else:
        lines += [""]
    return "\r\n".join(lines) + "\r\n"
def batch(parts):
    return "".join(f"--batch_fz\r\n{p}" for p in parts) + "--batch_fz--\r\n"
def changeset(name, parts):
    inner = "".join(f"--{name}\r\n{p}" for p in parts) + f"--{name}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={name}\r\n\r\n{inner}"
seed("http_batch", "normal", batch([
    part("GET", "/api/data/v9.2/accounts?$select=name&$top=2"),
    changeset("changeset_a", [part("POST", "/api/data/v9.2/accounts", '{"name":"fz"}', "1"),
                              part("PATCH", "$1", '{"name":"fz2"}', "2")]),
]))
seed("http_batch", "deep_filter_part", batch([part("GET", "/api/data/v9.2/accounts?$filter=" + nest("(", "name eq 'x'", ")", 10000))]))
seed("http_batch", "self_alias_part", batch([part("GET", "/api/data/v9.2/accounts?$filter=@p1&@p1=not @p1")]))
seed("http_batch", "deep_json_part", batch([changeset("cs", [part("POST", "/api/data/v9.2/accounts", "[" * 20000, "1")])]))
cs = part("POST", "/api/data/v9.2/accounts", '{"name":"x"}', "1")
for i in range(200):
    cs = changeset(f"cs{i}", [cs])
seed("http_batch", "nested_changesets", batch([cs]))
seed("parse_multipart", "normal", "multipart/mixed; boundary=batch_fz\n" + open("http_batch/normal").read())
seed("parse_multipart", "nested_changesets", "multipart/mixed; boundary=batch_fz\n" + batch([cs]))

# JSON bodies of a create.
seed("http_create", "normal", '{"name":"fuzz","revenue":12.5,"numberofemployees":3,"primarycontactid@odata.bind":"/contacts(00000000-0000-0000-0000-000000000001)"}')
seed("http_create", "deep_array", "[" * 20000)
seed("http_create", "deep_object", '{"a":' * 20000)
seed("http_create", "deep_value", '{"name":' + "[" * 20000)

# Pure readers.
seed("parse_sql", "deep_parens", open("http_sql/deep_parens").read())
seed("parse_sql", "normal", open("http_sql/normal").read())
seed("parse_sql", "join", open("http_sql/join").read())
seed("parse_sql", "deep_not", open("http_sql/deep_not").read())
for n in ("normal", "deep_filter", "deep_link", "deep_unknown"):
    seed("parse_fetchxml", n, open(f"http_fetchxml/{n}").read())
seed("parse_fetchxml", "very_deep_filter", fetch(nest("<filter>", cond, "</filter>", 5000)))

# Long but flat: SQLite refuses expression trees over 1,000 deep (HTTP 500 found by hand).
seed("http_sql", "flat_or_999", "SELECT name FROM account WHERE " + " OR ".join(["name='x'"] * 999))
