"""Trajectories and planning by composition in MuJoCo PointMaze."""
