"""
练习: 求100000以内所有质数之和
  * 分别用单进程, 4进程, 10进程完成
  * 记录每种情况的执行时间 通过装饰器记录时间

笔记: 002 「练习」. 笔记的代码只有单进程和4进程, 子进程把质数 append 到父进程传来的列表,
而子进程的列表回不到父进程 (笔记: 进程之间不共享全局变量), 所以算不出"之和".
ipcq 项目补全的地方 (其余照抄笔记): 子进程把自己那一段的质数个数和之和 put 到 Queue,
父进程 get 后相加; 加了 10进程; 打印个数与之和而不是整个列表; 上限可以由命令行给出
(python primes.py [上限], 默认 100000, 同笔记).
"""
# 获取函数执行时间
import sys
import time
from multiprocessing import Process
from ipcq import Queue

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000  # 补全: 上限 (笔记: 100000)


def timing(fun):
    def wrapper(*args, **kwargs):
        start_time = time.time()
        res = fun(*args, **kwargs)
        end_time = time.time()
        print('%s函数执行时长:%.6f' % (fun.__name__, end_time - start_time))
        return res

    return wrapper


# 判断一个数是否是质数
def isPrime(n):
    if n <= 1:
        return False
    for i in range(2, n):
        if n % i == 0:
            return False
    return True


# 单进程
@timing
def no_multi_process():
    prime = []
    for i in range(1, N + 1):
        if isPrime(i):
            prime.append(i)
    print('单进程: %d以内质数%d个, 之和%d' % (N, len(prime), sum(prime)))


# 自定义进程类
class Prime(Process):
    def __init__(self, q, begin, end):
        super().__init__()
        self.q = q  # 装结果的队列 (笔记: 装质数的列表)
        self.begin = begin  # 开始位置
        self.end = end  # 结束位置

    def run(self):
        prime = []
        for i in range(self.begin, self.end):
            if isPrime(i):
                prime.append(i)
        self.q.put((len(prime), sum(prime)))


# 补全: 笔记的 use_4_process, 进程数作参数, 4进程和10进程共用
def use_n_process(n):
    q = Queue()
    jobs = []
    step = -(-N // n)  # 每个进程的一段 (笔记: 25000)
    for i in range(1, N + 1, step):
        p = Prime(q, i, min(i + step, N + 1))
        jobs.append(p)
        p.start()
    results = [q.get() for _ in jobs]  # 先取结果再回收进程
    [i.join() for i in jobs]  # 回收进程
    print('%d进程: %d以内质数%d个, 之和%d' % (n, N, sum(c for c, s in results), sum(s for c, s in results)))


@timing
def use_4_process():
    use_n_process(4)


@timing
def use_10_process():
    use_n_process(10)


if __name__ == '__main__':
    no_multi_process()
    use_4_process()
    use_10_process()
