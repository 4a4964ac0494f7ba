"""The sample-data generator: deterministic, realistically messy raw exports and the ground truth behind them.

A tool for tests, benchmarks and the bundled sample (`journey generate`, `make sample`); the pipeline does
not import it. `generate(out, people, days, seed, start)` simulates `people` customers whose activity falls
in [start, start + days) and writes what eight source systems would export about them each night:

    out/landing/<source>/<YYYY-MM-DD>/<source>_<YYYY-MM-DD>.<ext>   folder date = export date
    out/landing/<source>/<YYYY-MM-DD>/<source>_<date>_resent.<ext>  / _redelivered.<ext>: re-delivered copies
    out/truth/records.csv.gz, out/truth/people.csv.gz               who each record belongs to, with the link
                                                                    evidence it carries (truth.py)

An export dated D holds the rows that happened on day D - 1 (plus late and re-sent ones), so folders run
from start + 1 to start + days. Same arguments give byte-identical files (string-seeded random.Random, no
wall clock, gzip mtime 0 and no file name, pyarrow Parquet).

Where to look:

    people.py      people and households: names, emails, phones, addresses, birth dates
    journeys.py    what a person does: channels, visits, purchases, store visits, newsletters
    sources/       one module per source system: how its rows are made (till sales: pos_transactions.py)
    mess.py        typos, formats, placeholders, malformed, late and duplicated rows, re-delivered files
    world.py       the clock, the random stream and the queue every row goes through; shop.py, ids.py
    writers.py     file formats;  truth.py: the ground truth;  run.py: chunks, files, statistics

On the bundled sample (2,000 people, 60 days, seed 7) exact identifiers alone (emails and phones without
placeholders, user/loyalty/contact/cookie/device ids, mc_eid) put about 60% of people in one piece and about
88% of same-person record pairs together; the rest needs fuzzy matching or cannot be linked (anonymous
cookies, anonymous store purchases), as in real exports.
"""

from generator.mess import PLACEHOLDER_EMAILS, PLACEHOLDER_PHONES, MessRates
from generator.run import GenerateStats, generate
from generator.truth import PEOPLE_COLUMNS, RECORD_COLUMNS
from generator.writers import FORMATS

__all__ = [
    "FORMATS", "PEOPLE_COLUMNS", "PLACEHOLDER_EMAILS", "PLACEHOLDER_PHONES", "RECORD_COLUMNS", "GenerateStats",
    "MessRates", "generate",
]
