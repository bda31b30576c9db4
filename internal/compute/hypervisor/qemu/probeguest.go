package qemu

// The probe guest: a boot sector that prints bootedLine on the serial
// port, then waits for the ACPI power button and powers the machine off,
// printing acpiLine. The KVM probe boots it (powering off at once) to see
// a guest really run; the tests check power actions against it, a guest
// that runs code and answers ACPI in a few hundred milliseconds under
// TCG, with no OS.
const (
	bootedLine = "nimbus-test-guest: booted\r\n"
	acpiLine   = "nimbus-test-guest: ACPI power button, powering off\r\n"
)

// bootSector is a disk image (1 MiB, raw) whose boot sector is the probe
// guest's x86 real-mode code. With offAtOnce it powers off right after
// printing bootedLine, as a guest that shuts itself down. It relies on
// what SeaBIOS leaves on QEMU's pc machine: the PIIX4 power management
// registers enabled (their base is read from the PCI config space) and
// the timer interrupt waking hlt.
func bootSector(offAtOnce bool) []byte {
	const msg1, msg2 byte = 80, 80 + byte(len(bootedLine)) + 1 // string offsets
	code := []byte{
		0x31, 0xC0, // 0: xor ax,ax
		0x8E, 0xD8, // 2: mov ds,ax
		0xFC,             // 4: cld
		0xBA, 0xF8, 0x0C, // 5: mov dx,0xcf8 (PCI config address)
		0x66, 0xB8, 0x40, 0x0B, 0x00, 0x80, // 8: mov eax,0x80000b40 (00:01.3 PMBA)
		0x66, 0xEF, // 14: out dx,eax
		0xBA, 0xFC, 0x0C, // 16: mov dx,0xcfc (PCI config data)
		0xED,             // 19: in ax,dx
		0x25, 0xC0, 0xFF, // 20: and ax,0xffc0
		0x89, 0xC5, // 23: mov bp,ax (the PM registers' base)
		0xBE, msg1, 0x7C, // 25: mov si,0x7c00+msg1
		0xE8, 36, 0x00, // 28: call print (67)
		0x90, 0x90, // 31: nop nop (offAtOnce: jmp off)
		0x8D, 0x56, 0x02, // 33: lea dx,[bp+2] (PM1_EN)
		0xB8, 0x00, 0x01, // 36: mov ax,0x100 (PWRBTN_EN)
		0xEF,       // 39: out dx,ax
		0xFB,       // 40: wait: sti
		0xF4,       // 41: hlt (until the timer tick)
		0x89, 0xEA, // 42: mov dx,bp (PM1_STS)
		0xED,             // 44: in ax,dx
		0xA9, 0x00, 0x01, // 45: test ax,0x100 (PWRBTN_STS)
		0x74, 0xF6, // 48: jz wait
		0xBE, msg2, 0x7C, // 50: mov si,0x7c00+msg2
		0xE8, 11, 0x00, // 53: call print (67)
		0x8D, 0x56, 0x04, // 56: off: lea dx,[bp+4] (PM1_CNT)
		0xB8, 0x00, 0x20, // 59: mov ax,0x2000 (SLP_EN, SLP_TYP 0: S5)
		0xEF,       // 62: out dx,ax
		0xFA,       // 63: cli
		0xF4,       // 64: hlt
		0xEB, 0xFD, // 65: jmp 64
		0xBA, 0xF8, 0x03, // 67: print: mov dx,0x3f8 (COM1)
		0xAC,       // 70: lodsb
		0x84, 0xC0, // 71: test al,al
		0x74, 0x03, // 73: jz 78
		0xEE,       // 75: out dx,al
		0xEB, 0xF8, // 76: jmp 70
		0xC3, // 78: ret
	}
	if offAtOnce {
		code[31], code[32] = 0xEB, 56-33 // jmp off
	}
	b := make([]byte, 1<<20)
	copy(b, code)
	copy(b[msg1:], bootedLine)
	copy(b[msg2:], acpiLine)
	b[510], b[511] = 0x55, 0xAA
	return b
}
