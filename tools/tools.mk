# tools/tracelink-verify: the standalone ledger verifier (docs/ledger.md).
#
# Included by the top-level Makefile after PGXS, whose variables it uses:
# "make" builds the verifier, "make install" puts it in $(DESTDIR)$(bindir),
# "make clean" removes it.  Like the fuzz targets, it compiles src/merkle.c
# with FRONTEND defined and links PostgreSQL's frontend libraries
# libpgcommon.a and libpgport.a (the JSON lexer, StringInfo, psprintf);
# src/standin/ stands in for the backend (the same stand-in as fuzz/'s),
# with SHA-256 from libsodium (standin_sha256.c).

TV_PROGRAM = tools/tracelink-verify
TV_OBJS = tools/tracelink-verify.o tools/tv_check.o tools/tv_fields.o \
	tools/tv_json.o tools/tv_util.o tools/standin.o tools/standin_sha256.o \
	tools/merkle_fe.o
TV_HEADERS = $(wildcard $(srcdir)/src/*.h) $(srcdir)/src/standin/standin.h \
	$(srcdir)/tools/tv_json.h $(srcdir)/tools/tv_util.h $(srcdir)/tools/tv_verify.h
TV_CPPFLAGS = -DFRONTEND -I$(srcdir)/src -I$(srcdir)/src/standin -I$(srcdir)/tools
# Debian keeps libpgcommon.a/libpgport.a in pkglibdir, upstream in libdir.
TV_LIBS = -L$(pkglibdir) -L$(libdir) -lpgcommon -lpgport -lsodium -lm -pthread

all: $(TV_PROGRAM)

tools/%.o: $(srcdir)/tools/%.c $(TV_HEADERS)
	$(CC) $(CFLAGS) $(TV_CPPFLAGS) $(CPPFLAGS) -c -o $@ $<

# the backend stand-in, shared with fuzz/
tools/%.o: $(srcdir)/src/standin/%.c $(TV_HEADERS)
	$(CC) $(CFLAGS) $(TV_CPPFLAGS) $(CPPFLAGS) -c -o $@ $<

# src/merkle.c again, as frontend code (src/merkle.o is the server's)
tools/merkle_fe.o: $(srcdir)/src/merkle.c $(TV_HEADERS)
	$(CC) $(CFLAGS) $(TV_CPPFLAGS) $(CPPFLAGS) -c -o $@ $<

$(TV_PROGRAM): $(TV_OBJS)
	$(CC) $(CFLAGS) $(TV_OBJS) $(LDFLAGS) $(LDFLAGS_EX) $(TV_LIBS) -o $@

.PHONY: install-verifier uninstall-verifier
install: install-verifier
install-verifier: $(TV_PROGRAM)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(TV_PROGRAM) '$(DESTDIR)$(bindir)/tracelink-verify'

uninstall: uninstall-verifier
uninstall-verifier:
	rm -f '$(DESTDIR)$(bindir)/tracelink-verify'

EXTRA_CLEAN += $(TV_OBJS)
