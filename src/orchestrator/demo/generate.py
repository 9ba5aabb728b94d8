"""Writes the demo brands and their mentions: ``python -m orchestrator.demo.generate``.

The brands are fictional and every text is built from the templates below, written for this
project. One seeded ``random.Random`` picks the pieces, so each run writes the same bytes.
Six days of mentions follow a daily rhythm; Quillfern Audio has one spike, a recall of its
earbuds' charging case on the fifth day between 14:00 and 18:00 UTC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

SEED = 20261128
START = datetime(2026, 11, 23, tzinfo=UTC)
DAYS = 6
END = START + timedelta(days=DAYS) - timedelta(seconds=1)  # 2026-11-28T23:59:59Z
BRANDS_FILE = "brands.json"
MENTIONS_FILE = "mentions.jsonl"

RECALL_BRAND = "quillfern"
RECALL_START = datetime(2026, 11, 27, 14, tzinfo=UTC)  # the fifth day
RECALL_MENTIONS = 400
RECALL_SHAPE = (0.17, 0.37, 0.28, 0.18)  # share of the recall's mentions in each of its hours

# Relative volume by hour of the day (UTC), 1.0 at the afternoon peak.
HOURLY_SHAPE = (
    *(0.46, 0.42, 0.4, 0.4, 0.42, 0.46, 0.54, 0.64, 0.74, 0.82, 0.89, 0.94),
    *(0.97, 1.0, 1.0, 0.98, 0.95, 0.9, 0.85, 0.78, 0.7, 0.62, 0.55, 0.5),
)
WEEKDAY_FACTOR = (1.0, 1.0, 0.98, 1.0, 0.96, 0.88, 0.84)  # Monday first

SENTIMENTS = ("positive", "neutral", "negative")
SOURCES = ("x", "reddit", "news", "rss")
SOURCE_WEIGHTS = {
    "positive": (0.56, 0.34, 0.04, 0.06),
    "neutral": (0.32, 0.2, 0.24, 0.24),
    "negative": (0.56, 0.36, 0.03, 0.05),
}
OPENERS = {
    "positive": (
        *("Honestly, ", "Small win: ", "Okay, ", "Two weeks in: ", "Can confirm: "),
        *("Pleasant surprise: ", "Happy customer here. ", "Credit where due: "),
    ),
    "neutral": (
        *("FYI: ", "Heads up: ", "For anyone asking: ", "Note: ", "Quick update: "),
        *("In case it helps: ", "Spotted today: ", "For reference: "),
    ),
    "negative": (
        *("Update: ", "For the record, ", "So, ", "Day four: ", "Again: ", "Sigh. "),
        *("Here we go again: ", "Not for the first time, ", "Morning report: "),
    ),
}
CLOSERS = {
    "positive": (
        *(" Very happy with it.", " Would buy again.", " Worth it.", " Nice work, team."),
        *(" Recommended.", " Made my week.", " Glad I picked it.", " Five stars from me."),
        *(" Telling all my friends.", " No regrets."),
    ),
    "neutral": (
        *(" More details on their site.", " Noting it here for reference.", " Thread below."),
        *(" Curious how others find it.", " Will report back.", " Link in the replies."),
        *(" Posting in case it helps someone.", " That's all I know so far."),
    ),
    "negative": (
        *(" Anyone else seeing this?", " Support sent me a form link.", " Not what I paid for."),
        *(" Still no reply from support.", " Third time this month.", " Not impressed."),
        *(" Opened a ticket, we'll see.", " Waiting on support again."),
        *(" Is this normal?", " Expected better."),
    ),
}
HANDLE_FIRST = (
    *("quiet", "sunny", "late", "north", "tiny", "urban", "lazy", "brisk"),
    *("amber", "mossy", "paper", "velvet", "rusty", "salty", "early", "misty"),
)
HANDLE_SECOND = (
    *("otter", "commuter", "fox", "kettle", "runner", "pixel", "heron", "bean"),
    *("spoke", "maple", "lark", "badger", "walrus", "finch", "pebble", "comet"),
)
OUTLETS = (
    "Example Tech Daily",
    "Gadget Ledger",
    "The Commuter Post",
    "Citywide Example News",
    "Consumer Desk Example",
)
FEEDS = ("Weekend Reviews", "Deal Tracker Feed", "Product Notes", "Local Shops Digest")


@dataclass(frozen=True)
class Theme:
    """What people talk about: subjects and claims; ``{s}`` is the subject, ``{c}`` a context."""

    name: str
    subjects: tuple[str, ...]
    contexts: tuple[str, ...]
    positive: tuple[str, ...]
    neutral: tuple[str, ...]
    negative: tuple[str, ...]

    def claims(self, sentiment: str) -> tuple[str, ...]:
        """The claims written with this sentiment."""
        by_sentiment = {"positive": self.positive, "neutral": self.neutral}
        return by_sentiment.get(sentiment, self.negative)


@dataclass(frozen=True)
class DemoBrand:
    """A fictional brand, its themes and its peak hourly volume."""

    slug: str
    name: str
    keywords: tuple[str, ...]
    exclude_keywords: tuple[str, ...]
    peak_per_hour: float
    themes: tuple[Theme, ...]

    def spec(self) -> dict[str, object]:
        """The brand in the API's shape (``POST /v1/brands``)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "keywords": list(self.keywords),
            "excludeKeywords": list(self.exclude_keywords),
            "languages": ["en"],
            "chunkSize": 100,
            "scheduleIntervalSec": 10,
            "maxInFlight": 4,
        }


AUDIO_SUBJECTS = (
    "my Quillfern Arc",
    "the Quillfern Arc",
    "my new Quillfern Arc",
    "the Quillfern Loop",
    "my Quillfern Loop",
    "this Quillfern headset",
)
SOUND = Theme(
    name="sound quality",
    subjects=AUDIO_SUBJECTS,
    contexts=(
        "",
        "",
        " on the train",
        " at the gym",
        " on long calls",
        " on my commute",
        " at home",
    ),
    positive=(
        "{s} sounds incredibly clear{c}",
        "the bass on {s} is rich without getting muddy{c}",
        "{s} makes my old playlists feel new",
        "noise cancelling on {s} is excellent{c}",
        "vocals on {s} come through crisp and warm{c}",
        "I hear details on {s} I never noticed before",
        "{s} sounds great{c}",
    ),
    neutral=(
        "{s} has a five-band EQ in the app",
        "{s} supports AAC and LDAC",
        "testing {s} against my old pair{c}",
        "{s} ships with three sizes of ear tips",
        "switched {s} to the balanced sound profile{c}",
        "{s} uses 40 mm drivers",
    ),
    negative=(
        "{s} crackles in the left ear past half volume{c}",
        "{s} lets through every word of the conversation next to me{c}",
        "the bass on {s} drops out for a second every few songs",
        "I keep turning {s} up to max just to hear podcasts{c}",
        "there is a hiss on {s} whenever nothing is playing",
        "{s} sounds muffled next to the demo unit in the shop",
        "sound on {s} is really disappointing{c}",
    ),
)
BATTERY = Theme(
    name="battery",
    subjects=AUDIO_SUBJECTS,
    contexts=("", "", " with noise cancelling on", " since the update", " this week", " again"),
    positive=(
        "{s} still had 60% left after a full day{c}",
        "battery on {s} easily covers a whole week of commuting",
        "ten minutes on the charger gives {s} a couple of hours of play",
        "{s} lasts longer than the box promised{c}",
        "battery life on {s} is superb{c}",
    ),
    neutral=(
        "{s} is rated for 30 hours of playback",
        "{s} charges over USB-C",
        "the case for {s} holds about three extra charges",
        "{s} shows its battery percentage in the app",
        "measuring how long {s} lasts{c}",
    ),
    negative=(
        "battery dying by lunch on {s}{c}",
        "{s} goes from full to 20% in one morning{c}",
        "{s} needs charging twice a day now{c}",
        "{s} switches off halfway through my commute{c}",
        "I carry a power bank just for {s}",
        "{s} says 80% and then shuts down five minutes later{c}",
        "battery life on {s} is awful{c}",
    ),
)
PAIRING = Theme(
    name="app pairing",
    subjects=AUDIO_SUBJECTS,
    contexts=(
        *("", "", " with my laptop", " since the last update", " on Android"),
        *(" on my iPhone", " after the firmware update"),
    ),
    positive=(
        "{s} paired with my phone in seconds{c}",
        "switching {s} between laptop and phone is seamless",
        "the Quillfern app found {s} instantly{c}",
        "multipoint on {s} just works{c}",
        "{s} reconnects the moment I open the case",
    ),
    neutral=(
        "the Quillfern app update for {s} is out{c}",
        "{s} can stay connected to two devices at once",
        "you can rename {s} in the Quillfern app",
        "{s} uses Bluetooth 5.3",
        "firmware 2.4 for {s} is rolling out this week",
    ),
    negative=(
        "{s} keeps disconnecting after ten minutes{c}",
        "had to re-pair {s} four times today{c}",
        "the Quillfern app spins forever looking for {s}{c}",
        "{s} only connects in one ear half the time{c}",
        "{s} drops the call every time I switch apps{c}",
        "pairing {s} is so frustrating{c}",
    ),
)
PRICE = Theme(
    name="price",
    subjects=("the Quillfern Arc", "the Quillfern Loop", "a Quillfern Arc", "the Quillfern bundle"),
    contexts=("", "", " this week", " at most shops", " right now", " in the holiday sale"),
    positive=(
        "{s} is worth every penny",
        "got {s} for 30% off{c}",
        "{s} is a steal at this price{c}",
        "{s} keeps up with headphones twice its price",
        "the student discount on {s} is a nice touch",
    ),
    neutral=(
        "{s} is listed at 149{c}",
        "{s} is on sale until Sunday",
        "{s} costs the same online and in store{c}",
        "{s} comes in four colours at the same price",
        "{s} is part of the Black Friday deals{c}",
    ),
    negative=(
        "{s} went up 40 dollars overnight",
        "paid full price for {s} and it dropped by 50 a week later",
        "{s} costs more here than anywhere else{c}",
        "{s} needs a separate 25 dollar case to survive a bag",
        "replacement ear tips for {s} cost almost as much as the earbuds",
        "{s} is overpriced for what you get{c}",
    ),
)
RECALL = Theme(
    name="recall",
    subjects=(
        "the Quillfern Loop charging case",
        "my Quillfern Loop case",
        "the Quillfern Loop",
        "my Quillfern Loop",
    ),
    contexts=("", "", " today", " this afternoon", " by email", " an hour ago"),
    positive=(
        "Quillfern handled the recall of {s} fast, replacement already shipped",
        "credit to Quillfern for recalling {s} before anyone got hurt",
        "the recall swap for {s} took five minutes{c}",
    ),
    neutral=(
        "Quillfern announces a voluntary recall of {s}{c}",
        "the recall covers {s} if it was made between March and June",
        "Quillfern says to stop using {s} and check the serial number{c}",
        "a safety notice lists {s} for an overheating risk",
        "recall details for {s} are posted on the Quillfern site{c}",
    ),
    negative=(
        "{s} is part of the recall{c}",
        "got asked to stop using {s}{c}",
        "overheating charging case recall and {s} is on the list",
        "{s} got too hot to hold on my desk last week, now I know why",
        "recall notice for {s} landed{c} and I use it every day",
        "the serial on {s} matches the recall batch",
        "I charged {s} next to my bed every night and now there's a recall",
        "the recall of {s} means no earbuds for my trip tomorrow",
        "the recall form for {s} keeps timing out{c}",
        "refund or replacement for {s} takes six weeks under the recall",
        "my kids use {s} and it was just recalled for overheating",
    ),
)

BIKE_SUBJECTS = (
    "my Tamsrow Drift",
    "the Tamsrow Drift",
    "my Tamsrow Commuter",
    "the Tamsrow Commuter",
    "my new Tamsrow",
    "this Tamsrow e-bike",
)
RIDE = Theme(
    name="ride feel",
    subjects=BIKE_SUBJECTS,
    contexts=(
        *("", "", " on the hills", " in the rain", " on the school run", " on gravel"),
        *(" on my commute", " on the way home"),
    ),
    positive=(
        "{s} feels planted and quick{c}",
        "{s} climbs like it has a tailwind{c}",
        "the motor on {s} kicks in smoothly{c}",
        "{s} handles beautifully{c}",
        "{s} turned my commute into the best part of my day",
        "gear changes on {s} are smooth and quiet{c}",
    ),
    neutral=(
        "{s} weighs 19 kg with the battery",
        "{s} has three assist levels",
        "took {s} out for the first ride{c}",
        "{s} uses a belt drive instead of a chain",
        "{s} tops out at 25 km/h assisted",
    ),
    negative=(
        "{s} clunks every time I shift into third{c}",
        "the chain on {s} slips on every climb{c}",
        "assist on {s} cuts out halfway up the hill{c}",
        "{s} pulls to the left no matter how I adjust it",
        "the brakes on {s} squeal at every stop{c}",
        "{s} rattles over every bump{c}",
        "{s} rides worse than my ten-year-old bike",
    ),
)
DELIVERY = Theme(
    name="delivery",
    subjects=(
        "my Tamsrow Drift",
        "my Tamsrow Commuter",
        "my Tamsrow order",
        "the Tamsrow I ordered",
        "my new Tamsrow",
    ),
    contexts=("", "", " to my flat", " before the weekend", " this week", " to the office"),
    positive=(
        "{s} arrived two days early{c}",
        "{s} showed up well packed and nearly assembled",
        "the courier carried {s} up three flights of stairs",
        "tracking for {s} was spot on",
        "{s} was delivered on the exact day promised{c}",
    ),
    neutral=(
        "{s} is out for delivery{c}",
        "{s} ships from the Rotterdam warehouse",
        "delivery slot for {s} is booked{c}",
        "{s} comes in one box, pedals and bars to fit",
        "tracking says {s} reaches the depot tomorrow",
    ),
    negative=(
        "third week waiting for the courier to bring {s}",
        "{s} has said out for delivery since Monday",
        "{s} turned up with a bent front wheel{c}",
        "the delivery date for {s} has moved four times",
        "{s} was left in the rain outside my building",
        "courier says {s} was delivered{c}, nothing at my door",
        "{s} arrived without the charger{c}",
        "delivery for {s} has been terrible",
    ),
)
SADDLE = Theme(
    name="saddle comfort",
    subjects=BIKE_SUBJECTS,
    contexts=("", "", " after an hour", " on longer rides", " on the commute", " after 20 km"),
    positive=(
        "the saddle on {s} is comfy{c}",
        "no soreness at all on {s}{c}",
        "{s} has the comfiest stock saddle I've ridden",
        "the saddle on {s} is soft without feeling squishy",
        "the upright position on {s} is easy on my back{c}",
    ),
    neutral=(
        "the saddle on {s} is 155 mm wide",
        "{s} takes a standard seatpost, so any saddle fits",
        "the seatpost on {s} has a quick-release clamp",
        "{s} comes with a gel saddle cover in the box",
    ),
    negative=(
        "my back aches on {s}{c}",
        "numb legs on {s}{c}",
        "I ride {s} standing up half the time just to get off the saddle",
        "the saddle on {s} creaks with every pedal stroke",
        "bought a new saddle for {s} after one week",
        "the saddle on {s} tilts forward however tight I make the bolt",
        "the saddle on {s} is a pain{c}",
    ),
)

TASTE = Theme(
    name="taste",
    subjects=(
        "the Orrindale house blend",
        "Orrindale's Ridge roast",
        "my Orrindale flat white",
        "the Orrindale cold brew",
        "the Orrindale decaf",
        "Orrindale's espresso",
    ),
    contexts=("", "", " this morning", " with oat milk", " as a pour-over", " today"),
    positive=(
        "{s} tastes amazing{c}",
        "{s} is smooth and chocolatey{c}",
        "{s} has a lovely bright finish{c}",
        "{s} is exactly how I like it{c}",
        "{s} is my new favourite{c}",
    ),
    neutral=(
        "{s} is a medium roast from Colombia and Ethiopia",
        "{s} is back on the menu{c}",
        "trying {s}{c}",
        "{s} comes in 250 g and 1 kg bags",
        "{s} is roasted on Tuesdays",
    ),
    negative=(
        "{s} tastes like it sat on the hot plate all day{c}",
        "{s} was lukewarm again{c}",
        "{s} went from rich to watery since they changed the beans",
        "{s} has a burnt aftertaste{c}",
        "half my cup of {s} is grounds at the bottom{c}",
        "{s} tasted awful{c}",
    ),
)
CAFE = Theme(
    name="cafe service",
    subjects=(
        "the Orrindale cafe on Mill Street",
        "Orrindale at the station",
        "the Orrindale on Harbour Road",
        "my local Orrindale",
        "the new Orrindale near the park",
    ),
    contexts=("", "", " this morning", " at lunchtime", " on Saturday", " during the rush"),
    positive=(
        "staff at {s} remembered my order{c}",
        "{s} had my drink ready in two minutes{c}",
        "{s} is such a friendly spot",
        "the barista at {s} made my day{c}",
        "{s} found room for my pram and brought the coffee over{c}",
    ),
    neutral=(
        "{s} opens at 7 now",
        "{s} takes cards only",
        "{s} has a new seasonal menu{c}",
        "{s} is closed for a refit until Thursday",
        "{s} now does table service after 3 pm",
    ),
    negative=(
        "waited 25 minutes for one latte at {s}{c}",
        "{s} got my order wrong three days in a row",
        "nobody at {s} looked up from their phone{c}",
        "{s} ran out of oat milk again{c}",
        "{s} closed an hour early with people still queuing",
        "the queue at {s} goes out the door with one till open{c}",
        "service at {s} was rude{c}",
    ),
)
SUBSCRIPTION = Theme(
    name="subscription",
    subjects=(
        "my Orrindale subscription",
        "the Orrindale beans box",
        "Orrindale's monthly box",
        "my Orrindale bean plan",
    ),
    contexts=("", "", " this month", " again", " as usual", " this week"),
    positive=(
        "{s} arrived right on schedule{c}",
        "{s} keeps introducing me to roasts I love",
        "pausing {s} for my holiday took ten seconds",
        "{s} is the best thing in my post{c}",
        "{s} always comes freshly roasted",
    ),
    neutral=(
        "{s} renews on the 1st",
        "{s} now lets you pick a grind size",
        "{s} switched to plastic-free packaging{c}",
        "changed the delivery day on {s}",
        "{s} costs 18 a month",
    ),
    negative=(
        "{s} charged me twice{c}",
        "{s} still has not shown up{c}",
        "cancelled {s} three times and it still renews",
        "{s} sent whole beans after I asked for ground{c}",
        "{s} arrived with the bag split open{c}",
        "still waiting on a refund for {s}",
        "{s} has been a terrible experience{c}",
    ),
)

BRANDS = (
    DemoBrand(
        slug="quillfern",
        name="Quillfern Audio",
        keywords=("Quillfern", "Quillfern Arc", "Quillfern Loop", "#quillfern"),
        exclude_keywords=("Quillfern Lane", "quillfern plant"),
        peak_per_hour=34.0,
        themes=(SOUND, BATTERY, PAIRING, PRICE),
    ),
    DemoBrand(
        slug="tamsrow",
        name="Tamsrow Bikes",
        keywords=("Tamsrow", "Tamsrow Drift", "Tamsrow Commuter", "#tamsrow"),
        exclude_keywords=("Tamsrow Road", "Tamsrow FC"),
        peak_per_hour=31.0,
        themes=(RIDE, DELIVERY, SADDLE),
    ),
    DemoBrand(
        slug="orrindale",
        name="Orrindale Coffee",
        keywords=("Orrindale", "Orrindale Coffee", "#orrindale"),
        exclude_keywords=("Orrindale Primary", "Orrindale Road"),
        peak_per_hour=36.0,
        themes=(TASTE, CAFE, SUBSCRIPTION),
    ),
)
NORMAL_SENTIMENT = (0.37, 0.27, 0.36)
MAX_DRAWS = 12  # tries at a text not used yet before a repeat is accepted
RECALL_SENTIMENT = (0.07, 0.2, 0.73)


@dataclass(frozen=True)
class Draft:
    """A mention before it has an id: when, what, where."""

    at: datetime
    text: str
    source: str
    author: str


def pick(rng: Random, options: Sequence[str]) -> str:
    """One of ``options``, uniformly."""
    return options[int(rng.random() * len(options))]


def weighted(rng: Random, options: Sequence[str], weights: Sequence[float]) -> str:
    """One of ``options`` with the given weights."""
    return rng.choices(options, weights=weights)[0]


def compose(rng: Random, brand: DemoBrand, theme: Theme, sentiment: str) -> str:
    """A mention's text: an optional opener, a claim about a subject, an optional closer."""
    claim = pick(rng, theme.claims(sentiment)).format(
        s=pick(rng, theme.subjects), c=pick(rng, theme.contexts)
    )
    opener = pick(rng, OPENERS[sentiment]) if rng.random() < 0.35 else ""
    closer = pick(rng, CLOSERS[sentiment]) if rng.random() < 0.6 else ""
    tag = f" #{brand.slug}" if rng.random() < 0.15 else ""
    if not opener or opener.endswith(". "):
        claim = claim[0].upper() + claim[1:]
    return f"{opener}{claim}.{closer}{tag}"


def fresh_text(rng: Random, brand: DemoBrand, theme: Theme, sentiment: str, seen: set[str]) -> str:
    """A text ``seen`` does not hold yet, when a few draws find one; then remembered."""
    for _ in range(MAX_DRAWS):
        text = compose(rng, brand, theme, sentiment)
        if text not in seen:
            break
    seen.add(text)
    return text


def author(rng: Random, source: str) -> str:
    """A made-up handle, outlet or feed name that fits the source."""
    if source == "news":
        return pick(rng, OUTLETS)
    if source == "rss":
        return pick(rng, FEEDS)
    first, second = pick(rng, HANDLE_FIRST), pick(rng, HANDLE_SECOND)
    number = int(rng.random() * 90) + 10
    if source == "reddit":
        return f"u/{first.capitalize()}{second.capitalize()}{number}"
    return f"@{first}_{second}{number}"


def draft(
    rng: Random, brand: DemoBrand, at: datetime, seen: set[str], *, recall: bool = False
) -> Draft:
    """One mention of ``brand`` at ``at``: a theme, a sentiment, a text, a source, an author."""
    theme = RECALL if recall else brand.themes[int(rng.random() * len(brand.themes))]
    sentiment = weighted(rng, SENTIMENTS, RECALL_SENTIMENT if recall else NORMAL_SENTIMENT)
    text = fresh_text(rng, brand, theme, sentiment, seen)
    source = weighted(rng, SOURCES, SOURCE_WEIGHTS[sentiment])
    return Draft(at=at, text=text, source=source, author=author(rng, source))


def hourly_count(rng: Random, brand: DemoBrand, hour: datetime) -> int:
    """How many ordinary mentions ``brand`` gets in ``hour``: the daily rhythm plus noise."""
    mean = brand.peak_per_hour * HOURLY_SHAPE[hour.hour] * WEEKDAY_FACTOR[hour.weekday()]
    return max(0, round(rng.gauss(mean, 1.2 * math.sqrt(mean))))


def within_hour(rng: Random, hour: datetime) -> datetime:
    """A random second of ``hour``."""
    return hour + timedelta(seconds=int(rng.random() * 3600))


def ordinary_drafts(rng: Random, brand: DemoBrand, seen: set[str]) -> list[Draft]:
    """The brand's everyday mentions over the six days."""
    drafts: list[Draft] = []
    for index in range(DAYS * 24):
        hour = START + timedelta(hours=index)
        for _ in range(hourly_count(rng, brand, hour)):
            drafts.append(draft(rng, brand, within_hour(rng, hour), seen))
    return drafts


def recall_drafts(rng: Random, brand: DemoBrand, seen: set[str]) -> list[Draft]:
    """The recall's extra mentions, spread over its hours by ``RECALL_SHAPE``."""
    hours = [RECALL_START + timedelta(hours=offset) for offset in range(len(RECALL_SHAPE))]
    drafts: list[Draft] = []
    for _ in range(RECALL_MENTIONS):
        hour = rng.choices(hours, weights=RECALL_SHAPE)[0]
        drafts.append(draft(rng, brand, within_hour(rng, hour), seen, recall=True))
    return drafts


def brand_mentions(rng: Random, brand: DemoBrand) -> list[dict[str, str]]:
    """All of a brand's mentions in time order, numbered from 1."""
    seen: set[str] = set()  # texts drawn for this brand so far
    drafts = ordinary_drafts(rng, brand, seen)
    if brand.slug == RECALL_BRAND:
        drafts += recall_drafts(rng, brand, seen)
    drafts.sort(key=lambda d: d.at)  # stable: equal times keep their drawing order
    return [to_mention(brand, number, d) for number, d in enumerate(drafts, start=1)]


def to_mention(brand: DemoBrand, number: int, d: Draft) -> dict[str, str]:
    """The mention as one line of the JSON Lines file."""
    return {
        "brand": brand.slug,
        "id": f"{brand.slug}-{number}",
        "text": d.text,
        "source": d.source,
        "url": f"https://example.com/{d.source}/{brand.slug}/{number}",
        "author": d.author,
        "createdAt": d.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "language": "en",
    }


def mentions(seed: int = SEED) -> list[dict[str, str]]:
    """Every brand's mentions, merged in time order (brand order breaks ties)."""
    rng = Random(seed)  # noqa: S311 -- demo data, not security
    merged = [m for brand in BRANDS for m in brand_mentions(rng, brand)]
    return sorted(merged, key=lambda m: m["createdAt"])


def write(directory: Path) -> None:
    """Write ``brands.json`` and ``mentions.jsonl`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    specs = [brand.spec() for brand in BRANDS]
    (directory / BRANDS_FILE).write_bytes((json.dumps(specs, indent=2) + "\n").encode())
    lines = "".join(json.dumps(m) + "\n" for m in mentions())
    (directory / MENTIONS_FILE).write_bytes(lines.encode())


def main() -> None:
    """Regenerate the committed demo files next to this module."""
    write(Path(__file__).parent)


if __name__ == "__main__":
    main()
