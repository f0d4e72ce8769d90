// PTYs from /dev/ptmx (Linux ioctls; no cgo).
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const (
	tiocsptlck = 0x40045431
	tiocgptn   = 0x80045430
	tiocswinsz = 0x5414
)

func ioctl(fd uintptr, request uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, request, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func openPTY(size *PTYSize) (master *os.File, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	var number uint32
	if err = ioctl(master.Fd(), tiocsptlck, unsafe.Pointer(&unlock)); err == nil {
		err = ioctl(master.Fd(), tiocgptn, unsafe.Pointer(&number))
	}
	if err == nil {
		slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", number), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err == nil && size != nil {
		err = resizePTY(master, size)
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

func resizePTY(master *os.File, size *PTYSize) error {
	if size.Cols > 0xffff || size.Rows > 0xffff {
		return errorf("invalid_argument", "a PTY is at most 65535 by 65535")
	}
	window := struct{ rows, cols, x, y uint16 }{uint16(size.Rows), uint16(size.Cols), 0, 0}
	return ioctl(master.Fd(), tiocswinsz, unsafe.Pointer(&window))
}
