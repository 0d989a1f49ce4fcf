// A 32-bit module-shaped object made by the real toolchain (gcc -m32, ld -r with the
// section sorting of scripts/module.lds.S): 6.1's non-PREL32 export layout (three
// pointers per struct kernel_symbol, R_386_32 relocations with their addends in the
// bytes), __kcrctab words and __crc_ symbols, a 32-bit __versions, a weak import.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const SOURCE = String.raw`
struct kernel_symbol { unsigned long value; const char *name; const char *namespace; };
struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; };

#define EXPORT(sym, sec, ns)                                                    \
	extern const char __kstrtab_##sym[], __kstrtabns_##sym[];                 \
	asm("	.section \"__ksymtab_strings\",\"aMS\",%progbits,1\n"               \
	    "__kstrtab_" #sym ":\n	.asciz \"" #sym "\"\n"                        \
	    "__kstrtabns_" #sym ":\n	.asciz \"" ns "\"\n	.previous\n");        \
	static const struct kernel_symbol __ksymtab_##sym                         \
	__attribute__((section("___ksymtab" sec "+" #sym), used, aligned(4)))   \
	= { (unsigned long)&sym, __kstrtab_##sym, __kstrtabns_##sym }
#define CRC(sym, crc, sec)                                                      \
	asm("	.section \"___kcrctab" sec "+" #sym "\",\"a\"\n"                    \
	    "__crc_" #sym ":\n	.long " #crc "\n	.previous\n")

extern int printk(const char *fmt, ...);
extern int maybe_hook(void) __attribute__((weak));

int fx_zeta(int a) { return printk("z %d", a); }
int fx_alpha(void) { return maybe_hook ? maybe_hook() : 0; }
int fx_secret(void) { return 7; }
int fx_ns_value(void) { return 42; }

EXPORT(fx_zeta, "", "");
EXPORT(fx_secret, "_gpl", "");
EXPORT(fx_alpha, "", "");
EXPORT(fx_ns_value, "_gpl", "FIXTURE_NS");
CRC(fx_zeta, 0x85ee738e, "");
CRC(fx_secret, 0x5327b1f3, "_gpl");
CRC(fx_alpha, 0x0000beef, "");
CRC(fx_ns_value, 0x89f44eec, "_gpl");

static const struct modversion_info ____versions[]
__attribute__((used, section("__versions"))) = {
	{ 0x92997ed8, "printk" },
	{ 0xf00d5735, "module_layout" },
};

static const char __modinfo[] __attribute__((used, section(".modinfo"), aligned(1))) =
	"license=GPL\0depends=\0name=fixture\0vermagic=6.1.0-1-686 SMP preempt mod_unload modversions 686 ";

char __this_module[0x140] __attribute__((section(".gnu.linkonce.this_module"), aligned(64)));
`;

const LINKER_SCRIPT = `SECTIONS {
	__ksymtab	0 : { *(SORT(___ksymtab+*)) }
	__ksymtab_gpl	0 : { *(SORT(___ksymtab_gpl+*)) }
	__kcrctab	0 : { *(SORT(___kcrctab+*)) }
	__kcrctab_gpl	0 : { *(SORT(___kcrctab_gpl+*)) }
}
`;

/** What the fixture declares, in declaration order (what modpost would list). */
export const I386_FIXTURE_EXPORTS = [
  { symbol: 'fx_zeta', crc: 0x85ee738e, exportType: 'EXPORT_SYMBOL', namespace: '' },
  { symbol: 'fx_secret', crc: 0x5327b1f3, exportType: 'EXPORT_SYMBOL_GPL', namespace: '' },
  { symbol: 'fx_alpha', crc: 0x0000beef, exportType: 'EXPORT_SYMBOL', namespace: '' },
  { symbol: 'fx_ns_value', crc: 0x89f44eec, exportType: 'EXPORT_SYMBOL_GPL', namespace: 'FIXTURE_NS' },
] as const;

/** Compile and link the fixture in `dir`; returns the path of the .ko. */
export async function buildI386Module(dir: string): Promise<string> {
  await writeFile(path.join(dir, 'fixture.c'), SOURCE);
  await writeFile(path.join(dir, 'module.lds'), LINKER_SCRIPT);
  // -fno-toplevel-reorder keeps the __ksymtab_* symbols in declaration order.
  await exec(
    'gcc',
    ['-m32', '-fno-pic', '-fno-pie', '-O2', '-fno-toplevel-reorder', '-c', '-o', 'fixture.o', 'fixture.c'],
    { cwd: dir },
  );
  await exec('ld', ['-m', 'elf_i386', '-r', '-T', 'module.lds', '-o', 'fixture.ko', 'fixture.o'], {
    cwd: dir,
  });
  return path.join(dir, 'fixture.ko');
}
