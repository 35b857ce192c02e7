-- Nothing is executable by PUBLIC: the grants above go to tracelink's roles.
-- (ALL FUNCTIONS leaves procedures out: add_peer and remove_peer are
-- procedures, for superusers only.)
REVOKE ALL ON ALL ROUTINES IN SCHEMA tracelink FROM PUBLIC;
