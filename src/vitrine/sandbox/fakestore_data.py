"""Fixture products for the FakeStoreAPI sandbox.

Vitrine's own records, written for the sandbox: the same four category names and the same field shapes as the
real service (``{id, title, price, description, category, image, rating: {rate, count}}``), other content.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = ("electronics", "jewelery", "men's clothing", "women's clothing")

IMAGE_BASE = "https://sandbox.vitrine.test/img/"

# (title, price, category, description, rate, count)
_RECORDS: tuple[tuple[str, float, str, str, float, int], ...] = (
    (
        "Trailhead Canvas Daypack, 22 L",
        64.5,
        "men's clothing",
        "Waxed canvas pack with a padded sleeve for a 15-inch laptop, two side pockets and leather pulls.",
        4.1,
        132,
    ),
    (
        "Harbour Knit Crew Sweater",
        38.0,
        "men's clothing",
        "Mid-weight cotton crew neck with ribbed cuffs; garment-washed so it will not shrink after the first wash.",
        3.8,
        87,
    ),
    (
        "Ridgeline Quilted Vest",
        71.25,
        "men's clothing",
        "Light insulated vest with a stand collar and zip hand pockets, packs into its own chest pocket.",
        4.4,
        41,
    ),
    (
        "Everyday Slim Oxford Shirt",
        29.99,
        "men's clothing",
        "Button-down collar, single chest pocket and a slim cut that tucks in without bunching.",
        2.9,
        305,
    ),
    (
        "Tidewater Sterling Cuff",
        119.0,
        "jewelery",
        "Hand-hammered sterling silver cuff with a brushed finish; adjustable for most wrists.",
        4.6,
        58,
    ),
    (
        "Meadow Drop Earrings",
        24.75,
        "jewelery",
        "Gold-tone hooks with pressed-flower drops sealed in resin. Nickel free.",
        3.3,
        212,
    ),
    (
        "Northstar Pendant Necklace",
        89.9,
        "jewelery",
        "A small eight-point star on an 18-inch cable chain, 14k gold plated over brass.",
        4.0,
        19,
    ),
    (
        "Stacking Band Set of Three",
        15.5,
        "jewelery",
        "Three thin rings in silver, rose and gold tones that can be worn together or apart.",
        2.2,
        410,
    ),
    (
        "Portable SSD 1 TB, USB-C",
        94.0,
        "electronics",
        "Pocket-sized solid state drive with read speeds up to 1000 MB/s and a rubberised shell.",
        4.7,
        640,
    ),
    (
        "Mechanical Keyboard, 75% Layout",
        79.0,
        "electronics",
        "Hot-swappable switches, PBT keycaps and a detachable braided cable; works wired or over Bluetooth.",
        4.2,
        233,
    ),
    (
        "27-inch IPS Monitor, 1440p",
        249.99,
        "electronics",
        "Factory-calibrated panel at 75 Hz with a height-adjustable stand and a USB-C input with power delivery.",
        3.9,
        150,
    ),
    (
        "Noise-Cancelling Earbuds",
        129.0,
        "electronics",
        "Six hours per charge, twenty-four with the case, and a transparency mode for crossing the street.",
        3.5,
        902,
    ),
    (
        "Wi-Fi 6 Mesh Router, Two Pack",
        179.5,
        "electronics",
        "Two nodes covering a three-bedroom home; set up from a phone app in about ten minutes.",
        4.3,
        77,
    ),
    (
        "65 W GaN Travel Charger",
        39.99,
        "electronics",
        "Two USB-C ports and one USB-A port in a charger the size of a matchbox, with folding prongs.",
        4.8,
        1204,
    ),
    (
        "Linen Wrap Midi Dress",
        58.0,
        "women's clothing",
        "Breathable linen blend with a tie waist and side pockets; machine washable on a cold cycle.",
        4.5,
        96,
    ),
    (
        "Cropped Denim Jacket",
        49.95,
        "women's clothing",
        "Rigid cotton denim in a boxy cropped cut with brass buttons and chest flap pockets.",
        3.7,
        188,
    ),
    (
        "Merino Rib Turtleneck",
        44.0,
        "women's clothing",
        "Fine merino wool that keeps warm without bulk; fitted through the body with long cuffs.",
        4.1,
        64,
    ),
    (
        "Packable Rain Shell",
        66.6,
        "women's clothing",
        "Waterproof, taped seams and an adjustable hood; folds into its own pocket for travel.",
        3.1,
        273,
    ),
    (
        "High-Rise Wide Leg Trousers",
        52.3,
        "women's clothing",
        "Soft crepe trousers with a flat front, back elastic and a wide leg that falls to the ankle.",
        2.6,
        145,
    ),
    (
        "Everyday Cotton Tee, Two Pack",
        18.0,
        "women's clothing",
        "Relaxed crew neck tees in organic cotton jersey; one white, one heather grey.",
        4.0,
        520,
    ),
)


def _product(number: int, record: tuple[str, float, str, str, float, int]) -> dict[str, Any]:
    title, price, category, description, rate, count = record
    return {
        "id": number,
        "title": title,
        "price": price,
        "description": description,
        "category": category,
        "image": f"{IMAGE_BASE}{number:02d}.png",
        "rating": {"rate": rate, "count": count},
    }


def products() -> list[dict[str, Any]]:
    """A fresh copy of the fixture products (callers may mutate it)."""
    return [_product(number, record) for number, record in enumerate(_RECORDS, start=1)]
