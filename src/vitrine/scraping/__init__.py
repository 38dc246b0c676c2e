"""books.toscrape.com crawler: fetch, parse, politeness, change detection. Entry point: ``service.run_crawl``."""
