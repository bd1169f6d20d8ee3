"""Phrasing templates of the user-question benchmark, as plain data (no side effects on import).

PHRASINGS: kind -> list of (phrasing_id, split, template). `split` is "train" or "test": a test
phrasing is never used for a training question. Templates are written the way people type (lower
case, mostly no question mark, "avg", "tot", "whats", "r") and use only these slots:

    {entity}     what a row is, plural ("orders")
    {measure}    a number column named in words ("price", "total bill")
    {name_col}   the column that names a row, in words ("product")
    {name}       a cell of the name column ("oak desk"); {name2} a second one
    {group_col}  a category column in words ("city"); {group} one of its cells ("berlin")
    {group2_col} a second category column; {group2} one of its cells
    {number}     a number written in digits ("50000")
    {year}       a 4-digit year; {month} a month name ("march")
    {flag}       a yes/no column in words ("active", "refunded")
    {date_col}   a date column in words ("start date")
    {col}        any column in words

Some kinds have variants (max or min, first or last...): PHRASING_VARIANT maps each phrasing id to
its variant, which also appears in the id (kind.variant.n); kinds without variants map to "".
"""

PHRASINGS: dict[str, list[tuple[str, str, str]]] = {
    "lookup": [
        ("lookup.1", "train", "what is the {col} of {name}"),
        ("lookup.2", "train", "whats the {col} for {name}"),
        ("lookup.3", "train", "{name} {col}"),
        ("lookup.4", "train", "show me the {col} of {name}"),
        ("lookup.5", "test", "what {col} does {name} have"),
        ("lookup.6", "test", "tell me the {col} for {name} pls"),
    ],
    "lookup_prefix": [
        ("lookup_prefix.1", "train", "what is the {col} of {name}"),
        ("lookup_prefix.2", "train", "{col} for {name}?"),
        ("lookup_prefix.3", "train", "give me the {col} of {name}"),
        ("lookup_prefix.4", "test", "whats {name}'s {col}"),
        ("lookup_prefix.5", "test", "look up the {col} of {name}"),
    ],
    "count_all": [
        ("count_all.1", "train", "how many {entity} are there"),
        ("count_all.2", "train", "count the {entity}"),
        ("count_all.3", "train", "how many {entity} r there"),
        ("count_all.4", "train", "number of {entity}"),
        ("count_all.5", "train", "how many {entity} do we have?"),
        ("count_all.6", "test", "how many {entity} in total"),
        ("count_all.7", "test", "whats the total number of {entity}"),
    ],
    "count_1": [
        ("count_1.1", "train", "how many {entity} have {group_col} {group}"),
        ("count_1.2", "train", "count {entity} where {group_col} is {group}"),
        ("count_1.3", "train", "how many {group} {entity} r there"),
        ("count_1.4", "train", "number of {entity} with {group_col} {group}"),
        ("count_1.5", "test", "how many {entity} with {group} as {group_col}"),
        ("count_1.6", "test", "{group} {entity} how many"),
    ],
    "count_2": [
        ("count_2.1", "train", "how many {entity} have {group_col} {group} and {group2_col} {group2}"),
        ("count_2.2", "train", "count {entity} where {group_col} is {group} and {group2_col} is {group2}"),
        ("count_2.3", "train", "how many {group} {entity} with {group2_col} {group2}"),
        ("count_2.4", "test", "number of {entity} with {group_col} {group} and {group2} as {group2_col}"),
        ("count_2.5", "test", "{group} and {group2}, how many {entity}"),
    ],
    "sum_all": [
        ("sum_all.1", "train", "what is the total {measure}"),
        ("sum_all.2", "train", "tot {measure}"),
        ("sum_all.3", "train", "sum of {measure}"),
        ("sum_all.4", "train", "whats the {measure} total across all {entity}"),
        ("sum_all.5", "test", "add up the {measure} column"),
        ("sum_all.6", "test", "what is the combined {measure} of all {entity}"),
    ],
    "sum_where": [
        ("sum_where.1", "train", "total {measure} for {group}"),
        ("sum_where.2", "train", "what is the total {measure} of {group} {entity}"),
        ("sum_where.3", "train", "sum of {measure} where {group_col} is {group}"),
        ("sum_where.4", "train", "tot {measure} with {group_col} {group}"),
        ("sum_where.5", "test", "how much {measure} in total for {group_col} {group}"),
        ("sum_where.6", "test", "add up {measure} for {group}"),
    ],
    "avg_all": [
        ("avg_all.1", "train", "what is the average {measure}"),
        ("avg_all.2", "train", "avg {measure}"),
        ("avg_all.3", "train", "mean {measure} of all {entity}"),
        ("avg_all.4", "train", "average {measure} across {entity}?"),
        ("avg_all.5", "test", "on average what is the {measure}"),
        ("avg_all.6", "test", "whats the mean {measure}"),
    ],
    "avg_where": [
        ("avg_where.1", "train", "average {measure} for {group}"),
        ("avg_where.2", "train", "avg {measure} where {group_col} is {group}"),
        ("avg_where.3", "train", "mean {measure} of {group} {entity}"),
        ("avg_where.4", "train", "what is the average {measure} with {group_col} {group}"),
        ("avg_where.5", "test", "{group} {entity} average {measure}"),
        ("avg_where.6", "test", "on average how much {measure} for {group_col} {group}"),
    ],
    "max_min": [
        ("max_min.max.1", "train", "what is the highest {measure}"),
        ("max_min.max.2", "train", "max {measure}"),
        ("max_min.max.3", "test", "whats the biggest {measure} in the table"),
        ("max_min.min.1", "train", "what is the lowest {measure}"),
        ("max_min.min.2", "train", "min {measure}"),
        ("max_min.min.3", "test", "what is the smallest {measure} in the table"),
    ],
    "max_min_where": [
        ("max_min_where.max.1", "train", "highest {measure} for {group}"),
        ("max_min_where.max.2", "train", "max {measure} where {group_col} is {group}"),
        ("max_min_where.max.3", "test", "what is the largest {measure} among {group} {entity}"),
        ("max_min_where.min.1", "train", "lowest {measure} for {group}"),
        ("max_min_where.min.2", "train", "min {measure} where {group_col} is {group}"),
        ("max_min_where.min.3", "test", "smallest {measure} among {group} {entity}"),
    ],
    "count_distinct": [
        ("count_distinct.1", "train", "how many different {group_col} values are there"),
        ("count_distinct.2", "train", "number of unique values in {group_col}"),
        ("count_distinct.3", "train", "count distinct {group_col}"),
        ("count_distinct.4", "train", "how many unique {group_col} r there"),
        ("count_distinct.5", "test", "how many distinct {group_col} values do the {entity} have"),
        ("count_distinct.6", "test", "count the different {group_col} values"),
    ],
    "share": [
        ("share.1", "train", "what percentage of {entity} have {group_col} {group}"),
        ("share.2", "train", "what share of {entity} are {group}"),
        ("share.3", "train", "percent of {entity} with {group_col} {group}"),
        ("share.4", "train", "% of {entity} where {group_col} is {group}"),
        ("share.5", "test", "how many {entity} are {group} as a percentage"),
        ("share.6", "test", "what proportion of {entity} have {group} as {group_col}, in percent"),
    ],
    "argmax": [
        ("argmax.max.1", "train", "which {name_col} has the highest {measure}"),
        ("argmax.max.2", "train", "{name_col} with the max {measure}"),
        ("argmax.max.3", "test", "the {name_col} whose {measure} is highest"),
        ("argmax.min.1", "train", "which {name_col} has the lowest {measure}"),
        ("argmax.min.2", "train", "{name_col} with min {measure}"),
        ("argmax.min.3", "test", "what {name_col} has the smallest {measure}"),
    ],
    "argmax_group": [
        ("argmax_group.max.1", "train", "which {name_col} has the highest {measure} in {group}"),
        ("argmax_group.max.2", "train", "{name_col} with max {measure} where {group_col} is {group}"),
        ("argmax_group.max.3", "test", "among {group} {entity}, which {name_col} has the largest {measure}"),
        ("argmax_group.min.1", "train", "which {name_col} has the lowest {measure} in {group}"),
        ("argmax_group.min.2", "train", "{name_col} with min {measure} for {group}"),
        ("argmax_group.min.3", "test", "among {group} {entity} whats the {name_col} with the smallest {measure}"),
    ],
    "most_common": [
        ("most_common.1", "train", "which {group_col} appears most often"),
        ("most_common.2", "train", "most common {group_col}"),
        ("most_common.3", "train", "what {group_col} comes up the most"),
        ("most_common.4", "train", "{group_col} with the most {entity}"),
        ("most_common.5", "test", "which {group_col} has the most {entity}"),
        ("most_common.6", "test", "whats the most frequent {group_col}"),
    ],
    "first_last": [
        ("first_last.first.1", "train", "which {name_col} is listed first"),
        ("first_last.first.2", "train", "first {name_col} in the table"),
        ("first_last.first.3", "train", "what {name_col} is at the top"),
        ("first_last.first.4", "train", "name the first {name_col}"),
        ("first_last.first.5", "test", "what is the top {name_col} in the list"),
        ("first_last.first.6", "test", "which {name_col} comes first"),
        ("first_last.last.1", "train", "which {name_col} is listed last"),
        ("first_last.last.2", "train", "last {name_col}"),
        ("first_last.last.3", "train", "what {name_col} is at the very end"),
        ("first_last.last.4", "train", "name the last {name_col} in the table"),
        ("first_last.last.5", "test", "whats the {name_col} at the bottom of the list"),
        ("first_last.last.6", "test", "which {name_col} comes last?"),
    ],
    "next_prev": [
        ("next_prev.next.1", "train", "which {name_col} is listed after {name}"),
        ("next_prev.next.2", "train", "{name_col} right after {name}"),
        ("next_prev.next.3", "test", "what {name_col} comes after {name}"),
        ("next_prev.prev.1", "train", "which {name_col} is listed before {name}"),
        ("next_prev.prev.2", "train", "{name_col} just before {name}"),
        ("next_prev.prev.3", "test", "what {name_col} comes before {name}"),
    ],
    "difference": [
        ("difference.1", "train", "what is the difference in {measure} between {name} and {name2}"),
        ("difference.2", "train", "{measure} difference between {name} and {name2}"),
        ("difference.3", "train", "diff in {measure} {name} vs {name2}"),
        ("difference.4", "test", "how far apart are {name} and {name2} in {measure}"),
        ("difference.5", "test", "gap in {measure} between {name} and {name2}?"),
    ],
    "compare_number": [
        ("compare_number.gt.1", "train", "how many {entity} have {measure} more than {number}"),
        ("compare_number.gt.2", "train", "count the {entity} with {measure} over {number}"),
        ("compare_number.gt.3", "test", "{entity} with {measure} above {number}, how many"),
        ("compare_number.lt.1", "train", "how many {entity} have {measure} less than {number}"),
        ("compare_number.lt.2", "train", "number of {entity} with {measure} under {number}"),
        ("compare_number.lt.3", "test", "how many {entity} r below {number} in {measure}"),
        ("compare_number.ge.1", "train", "how many {entity} have {measure} of at least {number}"),
        ("compare_number.ge.2", "test", "count {entity} with {measure} {number} or more"),
        ("compare_number.le.1", "train", "how many {entity} have {measure} of at most {number}"),
        ("compare_number.le.2", "test", "count {entity} with {measure} {number} or less"),
    ],
    "date_year": [
        ("date_year.gt.1", "train", "how many {entity} have {date_col} after {year}"),
        ("date_year.gt.2", "train", "count {entity} with {date_col} later than {year}"),
        ("date_year.gt.3", "test", "{entity} with a {date_col} after {year}: how many"),
        ("date_year.lt.1", "train", "how many {entity} have {date_col} before {year}"),
        ("date_year.lt.2", "train", "number of {entity} with {date_col} earlier than {year}"),
        ("date_year.lt.3", "test", "how many {entity} had their {date_col} before {year}"),
        ("date_year.eq.1", "train", "how many {entity} have {date_col} in {year}"),
        ("date_year.eq.2", "train", "number of {entity} with {date_col} in {year}"),
        ("date_year.eq.3", "test", "count the {entity} whose {date_col} falls in {year}"),
    ],
    "date_month": [
        ("date_month.1", "train", "how many {entity} have {date_col} in {month}"),
        ("date_month.2", "train", "count {entity} with {date_col} in {month}"),
        ("date_month.3", "train", "number of {entity} by {date_col} in {month}"),
        ("date_month.4", "test", "how many {entity} had a {date_col} in {month}"),
        ("date_month.5", "test", "in {month}, how many {entity} by {date_col}"),
    ],
    "flag": [
        ("flag.true.1", "train", "how many {entity} are {flag}"),
        ("flag.true.2", "train", "count the {flag} {entity}"),
        ("flag.true.3", "train", "number of {flag} {entity}"),
        ("flag.true.4", "test", "how many {entity} r {flag}"),
        ("flag.true.5", "test", "show me how many {entity} are marked {flag}"),
        ("flag.false.1", "train", "how many {entity} are not {flag}"),
        ("flag.false.2", "train", "count {entity} that r not {flag}"),
        ("flag.false.3", "test", "how many {entity} arent {flag}"),
    ],
    "unanswerable": [
        ("unanswerable.1", "train", "what is the {col} of {name}"),
        ("unanswerable.2", "train", "how many {entity} have {group_col} {group}"),
        ("unanswerable.3", "train", "show me the {col} for {name}"),
        ("unanswerable.4", "train", "total {measure} for {group}"),
        ("unanswerable.5", "test", "whats the {col} of {name}"),
        ("unanswerable.6", "test", "avg {measure} for {group}"),
    ],
}

PHRASING_VARIANT: dict[str, str] = {
    pid: (pid.split(".")[1] if pid.count(".") == 2 else "")
    for phrasings in PHRASINGS.values() for pid, _split, _template in phrasings
}
