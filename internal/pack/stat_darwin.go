package pack

import "syscall"

func fromSys(st *syscall.Stat_t) fileStat {
	return fileStat{
		size: st.Size, mtime: st.Mtimespec.Nano(), ctime: st.Ctimespec.Nano(),
		ino: st.Ino, dev: uint64(st.Dev), mode: uint32(st.Mode),
	}
}
