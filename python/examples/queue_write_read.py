"""
使用Queue实现进程间通信: 一个写进程, 一个读进程

笔记: 000 「使用Queue实现进程间通信」/「Queue的使用」, 001 「Queue -- 进程间通信-Queue」.
笔记里只有 Queue 的说明 (q=Queue(), put, get, qsize, empty ...), 没有这段程序的代码;
这是按笔记的说明写的最小的程序 (ipcq 项目补写, 不是笔记原文).
"""
import os
from multiprocessing import Process
from ipcq import Queue


# 写数据进程执行的代码
def write(q):
    print("写进程启动(%s),父进程为(%s)" % (os.getpid(), os.getppid()))
    for i in range(10):
        msg = "消息%d" % i
        q.put(msg)  # block默认值为True
        print("写入: %s" % msg)
    q.put(None)  # 写完了: 告诉读进程结束 (Queue.empty()在不同平台有差异, 不用它判断结束)


# 读数据进程执行的代码
def read(q):
    print("读进程启动(%s),父进程为(%s)" % (os.getpid(), os.getppid()))
    while True:
        msg = q.get(True)  # 队列为空时阻塞, 直到读到消息为止
        if msg is None:
            break
        print("读到: %s" % msg)


if __name__ == "__main__":
    # 父进程创建Queue, 并传给各个子进程
    q = Queue()  # 没有指定最大可接收的消息数量: 没有上限
    pw = Process(target=write, args=(q,))
    pr = Process(target=read, args=(q,))
    # 启动子进程pw, 写入
    pw.start()
    # 启动子进程pr, 读取
    pr.start()
    # 等待pw, pr结束
    pw.join()
    pr.join()
    print("队列剩余消息数量: %d, empty: %s" % (q.qsize(), q.empty()))
    print("所有数据都写入并且读完")
