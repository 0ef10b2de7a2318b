% conv1d benchmark: one channel, valid convolution, kernel 7.
input y_j, 0 \le j < n
param w_a, 0 \le a < 7
x_i = \sum_a w_a y_{i+a}
