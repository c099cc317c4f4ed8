//! The words the seed data is made of: company names, people, places, titles and subjects.

pub(super) const PREFIXES: &[&str] = &[
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Adventure",
    "Litware",
    "Tailspin",
    "Wingtip",
    "Proseware",
    "Alpine",
    "Coho",
    "Humongous",
    "Lucerne",
    "Margie's",
    "Trey",
    "Wide World",
    "Blue Yonder",
    "Fourth Coffee",
    "Graphic Design",
    "Woodgrove",
    "Relecloud",
    "Datum",
    "City Power",
    "Southridge",
    "Consolidated",
    "Bellows",
    "Munson's",
    "Lamna",
    "VanArsdel",
    "Best For You",
    "Nod",
];

pub(super) const NOUNS: &[&str] = &[
    "Traders",
    "Works",
    "Systems",
    "Logistics",
    "Foods",
    "Energy",
    "Health",
    "Motors",
    "Airlines",
    "Bank",
    "Insurance",
    "Labs",
    "Publishing",
    "Outfitters",
    "Winery",
    "Pharmaceuticals",
    "Consulting",
    "Industries",
    "Partners",
    "Retail",
];

pub(super) const SUFFIXES: &[&str] = &[
    "Inc.", "Ltd", "GmbH", "LLC", "Corp.", "S.A.", "plc", "AG", "Pty Ltd", "Co.",
];

pub(super) const FIRST: &[&str] = &[
    "Maria", "James", "Aiko", "Carlos", "Fatima", "Liam", "Olga", "Chen", "Priya", "Noah", "Amara",
    "Lukas", "Sofia", "Mateo", "Ingrid", "Kwame", "Yuki", "Elena", "Omar", "Grace", "Hugo",
    "Zanele", "Ravi", "Nora",
];

pub(super) const LAST: &[&str] = &[
    "Garcia",
    "Smith",
    "Tanaka",
    "O'Brien",
    "Haddad",
    "Müller",
    "Ivanova",
    "Wang",
    "Patel",
    "Johnson",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Fernández",
    "Larsen",
    "Mensah",
    "Sato",
    "Popescu",
    "Khan",
    "Lee",
    "Dubois",
    "Dlamini",
    "Sharma",
    "Nilsen",
];

pub(super) const CITIES: &[(&str, &str)] = &[
    ("Seattle", "United States"),
    ("Redmond", "United States"),
    ("Chicago", "United States"),
    ("Toronto", "Canada"),
    ("London", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Paris", "France"),
    ("Madrid", "Spain"),
    ("Milan", "Italy"),
    ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"),
    ("Oslo", "Norway"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
    ("Singapore", "Singapore"),
    ("São Paulo", "Brazil"),
    ("Mexico City", "Mexico"),
    ("Johannesburg", "South Africa"),
    ("Mumbai", "India"),
    ("Nairobi", "Kenya"),
];

pub(super) const TITLES: &[&str] = &[
    "Purchasing Manager",
    "CFO",
    "CEO",
    "IT Director",
    "Sales Representative",
    "Office Manager",
    "Operations Lead",
    "Procurement Specialist",
    "Head of Finance",
    "Account Executive",
];

pub(super) const LEAD_SUBJECTS: &[&str] = &[
    "Interested in volume pricing",
    "Requested a product demo",
    "Met at trade show",
    "Website enquiry",
    "Renewal opportunity",
    "Partner referral",
];

pub(super) const OPPORTUNITY_TOPICS: &[&str] = &[
    "Annual licence renewal",
    "New warehouse fit-out",
    "Fleet expansion",
    "Cloud migration",
    "Support contract",
    "Pilot project",
    "Office relocation",
];

pub(super) const TASK_SUBJECTS: &[&str] = &[
    "Call back about the quote",
    "Send the proposal",
    "Schedule a site visit",
    "Follow up on invoice",
    "Prepare the contract",
];
