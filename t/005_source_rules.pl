# Rules of the source that a test can hold the code to (docs/security.md).
#
# - SQL from C runs only through src/safe_spi.c (tl_spi_connect /
#   tl_spi_finish), which pins search_path: no other file opens or closes
#   an SPI session itself.
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

done_testing();
