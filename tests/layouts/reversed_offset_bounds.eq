input y_j, 1 \le j \le n
param w_a, -1 \le a \le 1
x_i = \sum_a w_a y_{n + 1 - i - a}, 2 \le i \le n - 1
u_i = x_i x_i
output u
