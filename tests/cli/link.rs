//! How cargo links the binary on x86_64 Linux (build.rs, docs/performance.md): the C
//! library statically, so that no loader runs before a cache hit, and the hit's code
//! first, gathered by link/hot-path.ld. The binary under test is the one a plain
//! `cargo build` gives, so these hold for `cargo install` too. A hot-path function
//! outside `.text.hot` means the script no longer matches the code: refresh it
//! (scripts/build-release says how).

use crate::support::BIN;

const PT_INTERP: u32 = 3;
const SHT_SYMTAB: u32 = 2;

/// The parts of an ELF64 little-endian file these tests read.
struct Elf {
    bytes: Vec<u8>,
}

struct Section {
    name: String,
    kind: u32,
    addr: u64,
    offset: usize,
    size: usize,
    link: usize,
}

impl Elf {
    fn read(path: &str) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            &bytes[..6],
            b"\x7fELF\x02\x01",
            "{path} is not a 64-bit little-endian ELF file"
        );
        Self { bytes }
    }

    fn u16(&self, at: usize) -> usize {
        u16::from_le_bytes(self.bytes[at..at + 2].try_into().unwrap()) as usize
    }

    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }

    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    fn c_str(&self, at: usize) -> String {
        let end = self.bytes[at..]
            .iter()
            .position(|&b| b == 0)
            .expect("a terminated string");
        String::from_utf8_lossy(&self.bytes[at..at + end]).into_owned()
    }

    fn program_header_types(&self) -> Vec<u32> {
        let (start, size, count) = (self.u64(0x20) as usize, self.u16(0x36), self.u16(0x38));
        (0..count).map(|i| self.u32(start + i * size)).collect()
    }

    fn sections(&self) -> Vec<Section> {
        let (start, size, count, names) = (self.u64(0x28) as usize, self.u16(0x3a), self.u16(0x3c), self.u16(0x3e));
        let header = |i: usize| start + i * size;
        let names_at = self.u64(header(names) + 0x18) as usize;
        (0..count)
            .map(|i| {
                let h = header(i);
                Section {
                    name: self.c_str(names_at + self.u32(h) as usize),
                    kind: self.u32(h + 4),
                    addr: self.u64(h + 0x10),
                    offset: self.u64(h + 0x18) as usize,
                    size: self.u64(h + 0x20) as usize,
                    link: self.u32(h + 0x28) as usize,
                }
            })
            .collect()
    }

    /// The address of every function or object in the symbol table whose mangled
    /// name contains `part`.
    fn symbols_containing(&self, part: &str) -> Vec<(String, u64)> {
        let sections = self.sections();
        let table = sections
            .iter()
            .find(|s| s.kind == SHT_SYMTAB)
            .expect("a symbol table: the test binary is built unstripped");
        let strings = &sections[table.link];
        (0..table.size / 24)
            .map(|i| table.offset + i * 24)
            .map(|at| (self.c_str(strings.offset + self.u32(at) as usize), self.u64(at + 8)))
            .filter(|(name, value)| *value != 0 && name.contains(part))
            .collect()
    }
}

#[test]
fn the_binary_is_statically_linked_with_the_hot_path_first() {
    let elf = Elf::read(BIN);
    assert!(
        !elf.program_header_types().contains(&PT_INTERP),
        "{BIN} asks for a dynamic loader: build.rs did not link the C library statically \
         (is libc.a installed? cc -print-file-name=libc.a)"
    );
    let sections = elf.sections();
    let hot = |name: &str| {
        sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{BIN} has no {name} section: build.rs did not pass link/hot-path.ld"))
    };
    let (text, rodata) = (hot(".text.hot"), hot(".rodata.hot"));
    let text_all = sections.iter().find(|s| s.name == ".text").expect(".text");
    assert!(text.addr < text_all.addr, ".text.hot is placed before .text");
    assert!(rodata.size > 0, ".rodata.hot holds the hit's constants");
    // What every cache hit runs, by its mangled name (no hash): the entry, the small
    // parser, the cache read and the ExecCredential.
    for function in [
        "11runai_token3run17h",
        "3cli4fast8fast_get17h",
        "5cache5Cache4read17h",
        "15exec_credential6render17h",
    ] {
        let found = elf.symbols_containing(function);
        assert!(!found.is_empty(), "no symbol {function}* in {BIN}");
        for (name, address) in found {
            assert!(
                (text.addr..text.addr + text.size as u64).contains(&address),
                "{name} is at {address:#x}, outside .text.hot ({:#x}, {} bytes): link/hot-path.ld is out of date",
                text.addr,
                text.size
            );
        }
    }
}
