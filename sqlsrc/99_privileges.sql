-- Nothing is executable by PUBLIC: the grants above go to tracelink's roles.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tracelink FROM PUBLIC;
