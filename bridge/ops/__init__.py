"""Process plumbing, off to the side of the flow: running web, worker and relay together
(`runner`), health checks, Redis connections (and the private embedded Redis), logging
and the one log line per request.
"""
