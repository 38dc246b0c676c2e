"""All ORM models, one module per table. Importing this package registers every table on ``Base.metadata``."""

import importlib
import pkgutil

from vitrine.models.book import Book
from vitrine.models.book_change import BookChange
from vitrine.models.category import Category
from vitrine.models.crawl_page import CrawlPage
from vitrine.models.scrape_run import ScrapeRun

# Register every model module, including those not re-exported above.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Book", "BookChange", "Category", "CrawlPage", "ScrapeRun"]
