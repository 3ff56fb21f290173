"""Write compress_core/data/text_demo.csv: the bundled English topic-classification set.

The sentences are generated from the templates and word lists below (our own work, CC0,
see compress_core/data/TEXT_DEMO_LICENSE.md), so the set ships with the project and the
text demo, the built-in `tinybert` and the tests run offline. Four topics (sports,
weather, cooking, technology), 300 sentences each, seeded: rerunning the script
reproduces the file byte for byte. A share of neutral filler words and shared verbs
keeps the task from being a pure keyword lookup.

    python scripts/make_text_demo.py
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 12
PER_CLASS = 300
OUT = Path(__file__).resolve().parents[1] / "compress_core" / "data" / "text_demo.csv"

TOPICS = {
    "sports": {
        "subject": ["the striker", "our goalkeeper", "the home team", "the coach", "the young sprinter", "the captain",
                    "the visiting side", "the tennis champion", "the rookie", "the referee"],
        "verb": ["scored", "missed", "won", "lost", "defended", "celebrated", "trained for", "prepared for"],
        "object": ["the final match", "a late penalty", "the league title", "the relay race", "the second half",
                   "the championship game", "a tight rebound", "the opening set", "the derby", "extra time"],
        "place": ["at the stadium", "on the pitch", "in front of the fans", "on the court", "at the arena"],
    },
    "weather": {
        "subject": ["the forecast", "a cold front", "the storm", "heavy rain", "the morning fog", "a warm breeze",
                    "the heat wave", "thick clouds", "the snowfall", "strong winds"],
        "verb": ["brought", "caused", "reached", "covered", "moved across", "cleared", "hit", "left"],
        "object": ["the northern coast", "the valley", "most of the region", "the mountain roads", "the city",
                   "low temperatures", "scattered showers", "a clear sky", "icy pavements", "flooded fields"],
        "place": ["overnight", "by the afternoon", "this weekend", "during the night", "before sunrise"],
    },
    "cooking": {
        "subject": ["the chef", "my grandmother", "the baker", "the recipe", "our cook", "the pastry team",
                    "a home cook", "the kitchen staff", "the soup", "the sauce"],
        "verb": ["stirred", "baked", "seasoned", "simmered", "chopped", "roasted", "served", "tasted"],
        "object": ["the garlic and onions", "a loaf of bread", "the tomato sauce", "fresh basil", "the chicken",
                   "a chocolate cake", "the vegetable stew", "the dough", "a pinch of salt", "the noodles"],
        "place": ["in the oven", "on low heat", "in a cast iron pan", "for twenty minutes", "with olive oil"],
    },
    "technology": {
        "subject": ["the new phone", "the software update", "the startup", "our laptop", "the chip maker",
                    "the developer", "the app", "the cloud service", "the robot", "the browser"],
        "verb": ["released", "crashed", "installed", "launched", "upgraded", "tested", "shipped", "patched"],
        "object": ["a faster processor", "the operating system", "a security fix", "the battery driver",
                   "the database server", "a new feature", "the network code", "the touch screen",
                   "the source code", "the memory module"],
        "place": ["last week", "after the beta", "for all users", "on every device", "in the data center"],
    },
}
# Words any topic may use: they carry no label information.
FILLER = ["really", "finally", "again", "quietly", "today", "yesterday", "surprisingly", "as expected", "once more"]
SHAPES = [
    "{subject} {verb} {object} {place}.",
    "{subject} {filler} {verb} {object}.",
    "{place}, {subject} {verb} {object}.",
    "{subject} {verb} {object} {filler}, {place}.",
    "people said {subject} {verb} {object}.",
]


def sentences(rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for label, words in TOPICS.items():
        seen: set[str] = set()
        while len(seen) < PER_CLASS:
            shape = rng.choice(SHAPES)
            text = shape.format(subject=rng.choice(words["subject"]), verb=rng.choice(words["verb"]),
                                object=rng.choice(words["object"]), place=rng.choice(words["place"]),
                                filler=rng.choice(FILLER))
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
    rng.shuffle(rows)
    return rows


def main() -> None:
    rows = sentences(random.Random(SEED))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} sentences to {OUT}")


if __name__ == "__main__":
    main()
