"""
进程池中使用Manager()中的Queue

笔记: 000 「进程池中的使用Manager()中的Queue」, 001 「Manager」:
如果要使用Pool创建进程，就需要使用multiprocessing.Manager()中的Queue()，而不是multiprocessing.Queue()，
否则会得到一条如下的错误信息RuntimeError:Queueobjectsshouldonlybesharedbetweenprocessesthroughinheritance
笔记里只有这些说明, 没有这段程序的代码; 这是按笔记的说明 (Pool(n), apply_async(func, args, callback),
close(), join(), queue=Manager().Queue()) 写的最小的程序 (ipcq 项目补写, 不是笔记原文).
"""
import os
from multiprocessing import Pool
from ipcq import Manager


def writer(q, name):
    print("writer%s启动(%s),父进程为(%s)" % (name, os.getpid(), os.getppid()))
    for i in range(5):
        q.put("%s-%d" % (name, i))
    return name


def reader(q, n):
    print("reader启动(%s),父进程为(%s)" % (os.getpid(), os.getppid()))
    for i in range(n):
        print("reader从Queue获取到消息: %s" % q.get(True))
    return n


# 回调函数: 参数是任务的返回值
def done(result):
    print("任务完成, 返回值: %s" % result)


if __name__ == "__main__":
    print("(%s) start" % os.getpid())
    queue = Manager().Queue()  # 使用Manager中的Queue, 没有长度限制
    pp = Pool(2)
    for name in "ABC":
        pp.apply_async(writer, args=(queue, name), callback=done, error_callback=print)
    pp.apply_async(reader, args=(queue, 15), callback=done, error_callback=print)
    pp.close()  # 不再添加其他的进程
    pp.join()  # 必须在close之后
    print("队列剩余消息数量: %d" % queue.qsize())
    print("(%s) End" % os.getpid())
