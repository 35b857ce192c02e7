# Rules of the source that a test can hold the code to (docs/security.md).
#
# - SQL from C runs only through src/safe_spi.c (tl_spi_connect /
#   tl_spi_finish), which pins search_path: no other file opens or closes
#   an SPI session itself.
# - No colour codes when output is not a terminal: scripts print escape
#   sequences only through TL_BOLD / TL_PLAIN of scripts/lib.sh, which are
#   empty unless stdout is a terminal.
# - make installcheck runs pg_regress and the isolation specs against the
#   running server, and no TAP test (those are make tapcheck's).
use strict;
use warnings;
use File::Basename;
use Test::More;

my @c_files = glob('src/*.c');
ok(@c_files > 10, 'the C sources are found (' . scalar(@c_files) . ' files)');

for my $file (@c_files)
{
	next if basename($file) eq 'safe_spi.c';
	open my $fh, '<', $file or die "cannot read $file: $!";
	my @bare;
	while (my $line = <$fh>)
	{
		push @bare, "$file:$.: $line" if $line =~ /\bSPI_(connect|connect_ext|finish)\s*\(/;
	}
	close $fh;
	is(join('', @bare), '', "$file opens SPI only through tl_spi_connect()");
}

my @scripts = (glob('scripts/*.sh'), glob('bench/*.sh'), glob('bench/*/*.sh'));
ok(@scripts > 3, 'the scripts are found (' . scalar(@scripts) . ' files)');
for my $file (@scripts)
{
	next if basename($file) eq 'lib.sh';
	open my $fh, '<', $file or die "cannot read $file: $!";
	my @escapes;
	while (my $line = <$fh>)
	{
		push @escapes, "$file:$.: $line" if $line =~ /\\033|\\e\[|\\x1[bB]|\\u001[bB]|\x1b|\btput\b/;
	}
	close $fh;
	is(join('', @escapes), '', "$file prints escape codes only through lib.sh's TL_BOLD / TL_PLAIN");
}

# stdout here is not a terminal (prove captures it)
my $plain = `bash -c 'source scripts/lib.sh; printf "%s%s" "\$TL_BOLD" "\$TL_PLAIN"' | cat`;
is($plain, '', 'lib.sh sets no escape codes when stdout is not a terminal');

my $dry = `make -n installcheck 2>&1`;
like($dry, qr{/pg_regress .*--load-extension=tracelink}, 'make installcheck runs pg_regress');
like($dry, qr{/pg_isolation_regress .*--load-extension=tracelink}, 'make installcheck runs the isolation specs');
unlike($dry, qr{\bprove\b|tmp_check}, 'make installcheck runs no TAP test and starts no cluster');
like(`make -n tapcheck 2>&1`, qr{\bprove\b}, 'make tapcheck runs the TAP tests');

done_testing();
