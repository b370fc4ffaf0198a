"""Resources: load documentation (`load`: files, folders, loopback crawls; `formats`, `wiki`: the
readers; `crawl`: the loopback crawler), chunk it with stable ids, and put it into a project (`ingest`)."""
