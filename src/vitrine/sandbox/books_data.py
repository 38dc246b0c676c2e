"""Deterministic fixture data for the books sandbox: N invented books over M invented categories.

Same arguments, same catalogue, on every machine. The data exercises what a books.toscrape.com scraper must
survive: titles longer than four words (the listings truncate them), HTML-special characters (``&``, ``'``,
``"``), non-ASCII text (a curly apostrophe, ``é``), two books without a description, categories with one book (singular
"result.") and categories paged over several listing pages.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

SITE_CREATED = datetime(2016, 6, 24, 9, 29, tzinfo=UTC)

_CATEGORY_NAMES = (
    "Voyages",
    "Whodunits",
    "Period Drama",
    "Graphic Tales",
    "Old Masters",
    "Big Questions",
    "Love Stories",
    "Her Stories",
    "Novels",
    "For Young Readers",
    "Faith",
    "True Stories",
    "Sound & Rhythm",
    "Uncategorised",
    "Far Futures",
    "Games & Pastimes",
    "Leave a note",
    "Dragons",
    "Coming of Age",
    "Teen Shelf",
    "Lab Notes",
    "Verse",
    "Ghosts",
    "Canvas",
    "Mind Matters",
    "My Life",
    "Raising Kids",
    "Grown-up Fiction",
    "Laughs",
    "Chills",
    "Under the Sea",
    "Kitchen",
    "Business",
    "Biographies",
    "Thrillers",
    "Shorts",
    "Self Care",
    "Café Culture",
    "Spirit",
    "Past Times",
    "Nature",
    "Health",
    "Film & Stage",
    "Christian Fiction",
    "Christian",
    "Law",
    "Politics",
    "Culture",
    "After Dark",
    "Heists",
    "Atlases",
    "Almanacs",
)
_ADJECTIVES = (
    "Silent",
    "Hidden",
    "Crimson",
    "Last",
    "Little",
    "Broken",
    "Golden",
    "Wandering",
    "Naïve",
    "Quiet",
    "Burning",
    "Forgotten",
    "Electric",
    "Gentle",
    "Wild",
    "Secret",
    "Northern",
    "Paper",
    "Glass",
    "Velvet",
    "Señor's",
)
_NOUNS = (
    "Garden",
    "River",
    "Attic",
    "Lighthouse",
    "Orchard",
    "Compass",
    "Cartographer",
    "Clockmaker",
    "Harbour",
    "Winter",
    "Kingdom",
    "Letters",
    "Café",
    "Fox",
    "Mirror",
    "Engine",
    "Island",
    "Moon",
    "Library",
    "Daughter",
    "Déjà Vu",
    "Bridge",
    "Storm",
    "Recipe",
    "Crown",
)
_PATTERNS = (
    "The {adj} {noun}",
    "{noun}",
    "The {noun} in the {noun2}",
    "The {noun} of {adj} Things",
    "{adj} {noun} & the {noun2}",
    "Don't Tell the {noun}",
    "The {noun}\u2019s {noun2}: A Novel",
    '"{adj}" and Other Stories',
    "How to Build a {noun}: Notes from the {adj} {noun2} ({noun} #{n})",
    "{adj} {noun} ({noun2} #{n})",
)
_SENTENCES = (
    "A story about the {noun} that nobody could find.",
    "It's the {adj} tale of the {noun} and the {noun2}.",
    'Critics called it "{adj}" & readers agreed.',
    "Set beside the {noun}, it follows three friends through one long winter.",
    "Part memoir, part field guide, wholly {adj}.",
    "Naïve and wise at once, it asks what the {noun} owes the {noun2}.",
    "The author\u2019s first book since the {noun}.",
)
RATING_WORDS = ("One", "Two", "Three", "Four", "Five")


def slugify(text: str) -> str:
    """Django-style slug: ASCII-folded, lower case, runs of other characters become one hyphen."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = re.sub(r"[^\w\s-]", "", ascii_text.lower())
    return re.sub(r"[-\s]+", "-", ascii_text).strip("-_")


@dataclass(slots=True)
class SandboxCategory:
    id: int  # 2.. (1 is the root "Books" listing)
    name: str

    @property
    def slug(self) -> str:
        return f"{slugify(self.name)}_{self.id}"


@dataclass(slots=True)
class SandboxBook:
    id: int
    title: str
    price: Decimal
    rating: int
    availability: int
    category: SandboxCategory
    upc: str
    description: str | None
    image: str  # site-relative path of the detail-page image
    thumbnail: str  # site-relative path of the listing thumbnail
    modified: datetime = field(default=SITE_CREATED)

    @property
    def slug(self) -> str:
        return f"{slugify(self.title)[:80].strip('-')}_{self.id}"

    @property
    def path(self) -> str:
        return f"catalogue/{self.slug}/index.html"


@dataclass(slots=True)
class Catalogue:
    books: list[SandboxBook]  # catalogue order: id descending, like the real site
    categories: list[SandboxCategory]

    def book(self, book_id: int) -> SandboxBook:
        for book in self.books:
            if book.id == book_id:
                return book
        raise KeyError(book_id)

    def in_category(self, category: SandboxCategory) -> list[SandboxBook]:
        return [book for book in self.books if book.category.id == category.id]


def _media(rng: random.Random, kind: str) -> str:
    digest = hashlib.md5(f"{kind}{rng.random()}".encode(), usedforsecurity=False).hexdigest()
    return f"media/cache/{digest[:2]}/{digest[2:4]}/{digest}.jpg"


def _title(rng: random.Random, used: set[str]) -> str:
    while True:
        pattern = rng.choice(_PATTERNS)
        title = pattern.format(
            adj=rng.choice(_ADJECTIVES), noun=rng.choice(_NOUNS), noun2=rng.choice(_NOUNS), n=rng.randint(1, 9)
        )
        if title not in used:
            used.add(title)
            return title
        if len(used) > 2000:  # the patterns run out of combinations: add a volume number
            title = f"{title}, Volume {len(used)}"
            used.add(title)
            return title


def _description(rng: random.Random) -> str:
    parts = [
        rng.choice(_SENTENCES).format(
            adj=rng.choice(_ADJECTIVES).lower(), noun=rng.choice(_NOUNS).lower(), noun2=rng.choice(_NOUNS).lower()
        )
        for _ in range(rng.randint(2, 6))
    ]
    return " ".join(parts) + " ...more"


def generate_catalogue(books: int = 1000, categories: int = 50, *, seed: int = 2016) -> Catalogue:
    """``books`` books (ids 1..books) spread unevenly over ``categories`` categories (at most 52)."""
    if not 1 <= categories <= len(_CATEGORY_NAMES):
        raise ValueError(f"categories must be between 1 and {len(_CATEGORY_NAMES)}")
    rng = random.Random(seed)
    cats = [SandboxCategory(id=index + 2, name=name) for index, name in enumerate(_CATEGORY_NAMES[:categories])]
    # Uneven sizes: a few big categories (several listing pages), a tail of small ones, one-book ones.
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(categories)]
    if categories > 4:
        weights[-2:] = [0.0, 0.0]  # the last two categories keep exactly one book
    assignment = [cats[i % categories] for i in range(min(books, categories))]
    assignment += rng.choices(cats, weights=weights, k=max(0, books - categories))
    rng.shuffle(assignment)
    no_description = {max(1, books // 200), max(1, (books * 84) // 100)} if books >= 4 else set()
    used: set[str] = set()
    made = []
    for book_id in range(1, books + 1):
        made.append(
            SandboxBook(
                id=book_id,
                title=_title(rng, used),
                price=Decimal(rng.randint(1000, 5999)) / 100,
                rating=rng.randint(1, 5),
                availability=rng.randint(1, 22),
                category=assignment[book_id - 1],
                upc=f"{rng.getrandbits(64):016x}",
                description=None if book_id in no_description else _description(rng),
                image=_media(rng, "image"),
                thumbnail=_media(rng, "thumb"),
            )
        )
    made.reverse()
    used_ids = {book.category.id for book in made}
    return Catalogue(books=made, categories=[cat for cat in cats if cat.id in used_ids])
