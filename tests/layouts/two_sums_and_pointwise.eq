input y_j, 0 \le j < n
param w_a, 0 \le a < 3
param v_a, 0 \le a < 2
x_i = \sum_a w_a y_{i+a} + \sum_a v_a y_{i+2a} + y_i y_i, 0 \le i < n
output x
